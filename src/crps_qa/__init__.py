"""crps-qa: cited search and answers over the CRPS / ketamine literature.

    from crps_qa import Pipeline, Settings
    pipeline = Pipeline.open(Settings())
    answer = pipeline.ask("What dose of ketamine was used?")

``Pipeline`` and ``Query`` load on first use (they pull in FAISS and the index code), so importing
the package, the CLI's errors or the settings stays fast.
"""

from __future__ import annotations

from typing import Any

from crps_qa.errors import CrpsQaError
from crps_qa.settings import Settings
from crps_qa.types import Answer, Citation, CleanDocument, Correction, DocumentInfo, Hit, Passage, RawDocument, Section

__all__ = [
    "Answer",
    "Citation",
    "CleanDocument",
    "Correction",
    "CrpsQaError",
    "DocumentInfo",
    "Hit",
    "Passage",
    "Pipeline",
    "Query",
    "RawDocument",
    "Section",
    "Settings",
]
__version__ = "0.1.0"

_LAZY = {"Pipeline": "crps_qa.pipeline", "Query": "crps_qa.query.analyzer"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'crps_qa' has no attribute {name!r}")
