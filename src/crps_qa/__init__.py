"""crps-qa: cited search and answers over the CRPS / ketamine literature."""

from crps_qa.errors import CrpsQaError
from crps_qa.settings import Settings
from crps_qa.types import CleanDocument, DocumentInfo, Hit, Passage, RawDocument, Section

__all__ = [
    "CleanDocument",
    "CrpsQaError",
    "DocumentInfo",
    "Hit",
    "Passage",
    "RawDocument",
    "Section",
    "Settings",
]
__version__ = "0.1.0"
