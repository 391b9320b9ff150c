"""``GET /documents`` and ``GET /documents/{doc_id}``: what is indexed, with catalog metadata."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Query

from crps_qa.api.deps import PipelineDep
from crps_qa.api.models import DocumentDetailOut, DocumentsOut, ErrorOut
from crps_qa.errors import NotFoundError
from crps_qa.index.store import IndexData

router = APIRouter(tags=["documents"])

NOT_READY = {503: {"model": ErrorOut, "description": "No index loaded."}}


def _record(data: IndexData, doc_id: str, counts: Mapping[str, int]) -> dict[str, Any]:
    return {**data.documents[doc_id].to_dict(), "passages": counts.get(doc_id, 0)}


@router.get("/documents", response_model=DocumentsOut, responses=NOT_READY)
def list_documents(pipeline: PipelineDep) -> dict[str, Any]:
    """Every indexed document: id, title, authors, year, venue, study type and passage count."""
    data = pipeline.data  # one snapshot: a reload may swap the index mid-request
    counts = data.passage_counts()
    return {"documents": [_record(data, doc_id, counts) for doc_id in data.documents]}


@router.get(
    "/documents/{doc_id}",
    response_model=DocumentDetailOut,
    responses={404: {"model": ErrorOut, "description": "Unknown document id."}, **NOT_READY},
)
def get_document(
    pipeline: PipelineDep,
    doc_id: str,
    include_text: Annotated[bool, Query(description="Also return the cleaned text.")] = False,
) -> dict[str, Any]:
    """One document's metadata, section headings (with the offset where each starts) and page count.
    Example: `GET /documents/ketamine-skin-temperature-case-report?include_text=true`."""
    data = pipeline.data
    if doc_id not in data.documents:
        raise NotFoundError(f"Unknown document id {doc_id!r}. List the documents with GET /documents.")
    clean = data.texts[doc_id]
    return {
        **_record(data, doc_id, data.passage_counts()),
        "chars": len(clean.text),
        "pages": len(clean.page_starts) or None,
        "sections": [{"title": s.title, "char_start": s.start} for s in clean.sections],
        "text": clean.text if include_text else None,
    }
