"""``POST /ask``: an extractive answer with numbered citations, or a refusal."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from crps_qa.api.deps import PipelineDep, doc_ids
from crps_qa.api.models import AnswerOut, AskIn, ErrorOut

router = APIRouter(tags=["ask"])


@router.post(
    "/ask",
    response_model=AnswerOut,
    responses={
        400: {"model": ErrorOut, "description": "The body could not be read (e.g. not UTF-8)."},
        404: {"model": ErrorOut, "description": "Unknown document id in doc_id."},
        422: {
            "model": ErrorOut,
            "description": "Empty or too long question, k out of range or unknown mode.",
        },
        503: {
            "model": ErrorOut,
            "description": "No index loaded; the detail names the command that builds it.",
        },
    },
)
def ask(pipeline: PipelineDep, body: AskIn) -> dict[str, Any]:
    """Answer from the corpus only: sentences quoted from the best passages with markers [n] that point
    into `citations`, or `refused: true` with a fixed phrase when the passages do not answer it;
    `missing_terms` then names the question's specific words that no indexed paper uses, if any.
    Words that look like typos are corrected first and listed in `corrections`
    (`"correct_spelling": false` asks the question exactly as sent)."""
    answer = pipeline.ask(body.question, k=body.k, mode=body.mode, doc_ids=doc_ids(body.doc_id),
                          correct=body.correct_spelling)
    return answer.to_dict()
