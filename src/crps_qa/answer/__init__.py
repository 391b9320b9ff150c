"""answer stage: extractive answers with exact citations, or a refusal."""

from crps_qa.answer.answerer import Answerer
from crps_qa.answer.texts import MARKER, REFUSAL

__all__ = ["MARKER", "REFUSAL", "Answerer"]
