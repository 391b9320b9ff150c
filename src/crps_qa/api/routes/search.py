"""``GET /search`` and ``POST /search``: ranked, cited passages for a query.

Both are plain ``def`` endpoints: FastAPI runs them in its threadpool, so embedding the query
(CPU-bound) never blocks the event loop.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from crps_qa.api.deps import PipelineDep, doc_ids
from crps_qa.api.models import (
    CORRECT_DOC,
    DOC_ID_DOC,
    K_DOC,
    K_LIMITS,
    MODE_DOC,
    MODE_ENUM,
    QUERY_LIMITS,
    QUESTION,
    ErrorOut,
    SearchIn,
    SearchOut,
)
from crps_qa.pipeline import Pipeline

router = APIRouter(tags=["search"])

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "The body could not be read (e.g. not UTF-8)."},
    404: {"model": ErrorOut, "description": "Unknown document id in doc_id."},
    422: {"model": ErrorOut, "description": "Empty or too long query, k out of range or unknown mode."},
    503: {"model": ErrorOut, "description": "No index loaded; the detail names the command that builds it."},
}


def run_search(
    pipeline: Pipeline, query: str, k: int | None, mode: str, docs: tuple[str, ...], correct: bool = True,
) -> dict[str, Any]:
    request = pipeline.validate(query, k=k, mode=mode, doc_ids=docs, correct=correct)
    hits = pipeline.run(request)
    return {"query": request.query.text, "mode": request.mode, "k": request.k, "hits": [h.to_dict() for h in hits],
            "corrections": [c.to_dict() for c in request.corrections]}


@router.get("/search", response_model=SearchOut, responses=ERRORS, summary="Search (query string)")
def search_get(
    pipeline: PipelineDep,
    q: Annotated[
        str,
        Query(description="The question or keywords.", examples=[QUESTION], json_schema_extra=QUERY_LIMITS),
    ],
    k: Annotated[int | None, Query(description=K_DOC, examples=[5], json_schema_extra=K_LIMITS)] = None,
    mode: Annotated[str, Query(description=MODE_DOC, json_schema_extra=MODE_ENUM)] = "hybrid",
    doc_id: Annotated[list[str] | None, Query(description=DOC_ID_DOC)] = None,
    correct_spelling: Annotated[bool, Query(description=CORRECT_DOC)] = True,
) -> dict[str, Any]:
    """The k passages that best answer `q`, rank 1 first, each cited to document, section, page and
    character span. Example: `GET /search?q=skin+temperature&k=3&mode=bm25`."""
    return run_search(pipeline, q, k, mode, doc_ids(doc_id), correct_spelling)


@router.post("/search", response_model=SearchOut, responses=ERRORS, summary="Search (JSON body)")
def search_post(pipeline: PipelineDep, body: SearchIn) -> dict[str, Any]:
    """Same as `GET /search`, with the fields in a JSON body (`query` or `q`, `k`, `mode`, `doc_id`)."""
    return run_search(pipeline, body.query, body.k, body.mode, doc_ids(body.doc_id), body.correct_spelling)
