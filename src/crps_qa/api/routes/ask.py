"""``POST /ask``: an extractive answer with numbered citations, or a refusal."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from crps_qa.api.deps import PipelineDep, doc_ids, evidence_filter
from crps_qa.api.models import AnswerOut, AskIn, ErrorOut
from crps_qa.receipt import AskRequest, make_receipt

router = APIRouter(tags=["ask"])


@router.post(
    "/ask",
    response_model=AnswerOut,
    responses={
        400: {"model": ErrorOut, "description": "The body could not be read (e.g. not UTF-8)."},
        404: {"model": ErrorOut, "description": "Unknown document id in doc_id, or no paper matches the evidence "
              "filters."},
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
    (`"correct_spelling": false` asks the question exactly as sent). Evidence filters (`design`, `min_n`,
    `year_from`, `year_to`, `drug`) narrow the papers answered from; `receipt` records what produced the answer."""
    request = AskRequest(body.question, body.k, body.mode, doc_ids(body.doc_id), body.correct_spelling,
                         evidence_filter(body))
    answer = request.run(pipeline)
    return {**answer.to_dict(), "receipt": make_receipt(pipeline, answer, request)}
