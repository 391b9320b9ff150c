"""Document metadata: ``corpus/catalog.json`` when it lists a document, else derived from its text.

    {"documents": [{"doc_id": "mackay-...", "file": "mackay-....txt", "title": "...",
                    "authors": "...", "year": 2009, "venue": "...", "study_type": "retrospective cohort"}]}

Adding a document needs no catalog entry: its title is then taken from its first line.
An entry may also override evidence facets read from the text (:mod:`crps_qa.ingest.facets`):
``"facets": {"n": 12, "design": "case series"}``; the facet is then marked ``source: "catalog"``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from crps_qa.errors import IngestError
from crps_qa.ingest.facets import extract_facets
from crps_qa.types import CleanDocument, DocumentInfo

log = logging.getLogger(__name__)

CATALOG_FILE = "catalog.json"
_FIELDS = ("title", "authors", "year", "venue", "study_type")


def load_catalog(corpus_dir: Path) -> dict[str, dict]:
    """Entries of ``corpus_dir/catalog.json`` by doc_id ({} when there is no catalog)."""
    path = corpus_dir / CATALOG_FILE
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {entry["doc_id"]: entry for entry in data["documents"]}
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise IngestError(
            f"{path} is not a valid catalog ({exc}); fix it or delete it to fall back to file titles."
        ) from exc


def describe(doc: CleanDocument, path: str, catalog: dict[str, dict]) -> DocumentInfo:
    """Metadata for one document, catalog first, with the evidence facets of its text."""
    entry = catalog.get(doc.doc_id, {})
    title = entry.get("title") or _first_line(doc.text) or Path(path).stem
    try:
        facets = extract_facets(doc, entry)
    except ValueError as exc:
        raise IngestError(f"{CATALOG_FILE}: {exc}") from exc
    return DocumentInfo(
        doc_id=doc.doc_id, path=path, **{**{f: entry.get(f) for f in _FIELDS}, "title": title}, facets=facets
    )


def _first_line(text: str, limit: int = 160) -> str:
    for line in text.splitlines():
        line = line.strip()
        if len(line) > 3:
            return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"
    return ""
