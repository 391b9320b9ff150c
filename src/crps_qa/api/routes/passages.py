"""``GET /passages/{chunk_id}``: one passage with its neighbours in the same document, for context."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from crps_qa.api.deps import PipelineDep
from crps_qa.api.models import ErrorOut, PassageContextOut
from crps_qa.errors import NotFoundError
from crps_qa.index.store import IndexData

router = APIRouter(tags=["passages"])


def _record(data: IndexData, row: int) -> dict[str, Any]:
    passage = data.passages[row]
    return {
        "doc_id": passage.doc_id,
        "title": data.documents[passage.doc_id].title,
        "section": passage.section,
        "page": passage.page,
        "char_start": passage.char_start,
        "char_end": passage.char_end,
        "chunk_id": passage.chunk_id,
        "text": passage.text,
        "role": passage.role,
    }


def _neighbour(data: IndexData, row: int, step: int) -> dict[str, Any] | None:
    other = row + step
    if 0 <= other < len(data.passages) and data.passages[other].doc_id == data.passages[row].doc_id:
        return _record(data, other)
    return None


@router.get(
    "/passages/{chunk_id}",
    response_model=PassageContextOut,
    responses={
        404: {"model": ErrorOut, "description": "No passage with this id in the current index."},
        503: {"model": ErrorOut, "description": "No index loaded."},
    },
)
def get_passage(pipeline: PipelineDep, chunk_id: str) -> dict[str, Any]:
    """A passage by the `chunk_id` a search hit carries, with the previous and next passage of the
    same document. Chunk ids hold a `#`: send it as `%23`, e.g.
    `GET /passages/mackay-low-dose-ketamine-retrospective%233f2a9c1b7d0e`."""
    data = pipeline.data  # one snapshot: a reload may swap the index mid-request
    row = data.row_of.get(chunk_id)
    if row is None:
        raise NotFoundError(
            f"No passage with id {chunk_id!r} in the current index "
            "(ids change when a document is re-indexed; search again)."
        )
    return {
        "passage": _record(data, row),
        "previous": _neighbour(data, row, -1),
        "next": _neighbour(data, row, 1),
    }
