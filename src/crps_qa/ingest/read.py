"""Read corpus files into ``RawDocument`` records: text and Markdown as one page, PDFs page by page
(:mod:`crps_qa.ingest.pdf`).

    >>> report = ingest_corpus(Path("corpus"))
    >>> [d.doc_id for d in report.documents], [s.reason for s in report.skipped]

A file that cannot be read becomes a ``SkippedFile`` with the reason and the fix; the rest goes on.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterator
from pathlib import Path

from crps_qa.errors import IngestError
from crps_qa.ingest.pdf import read_pdf
from crps_qa.types import IngestReport, RawDocument, SkippedFile

log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = (".txt", ".md", ".pdf")
_IGNORED_NAMES = {"catalog.json"}  # corpus metadata, read by the catalog, not a document
_FALLBACK_ENCODINGS = ("cp1252", "latin-1")  # latin-1 decodes any byte, so text is never lost


def doc_id_for(path: Path) -> str:
    """Stable id from the file name: ``"Mackay 2004_Ketamine.PDF"`` → ``"mackay-2004-ketamine"``."""
    return re.sub(r"[^a-z0-9]+", "-", path.stem.lower()).strip("-")


def read_document(path: Path) -> RawDocument:
    """Read one ``.txt``/``.md``/``.pdf`` file; raise ``IngestError`` saying what to do if it fails."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise IngestError(
            f"{path}: unsupported file type {path.suffix!r}; convert it to one of "
            f"{', '.join(SUPPORTED_SUFFIXES)} or move it out of the corpus folder"
        )
    doc_id = doc_id_for(path)
    if not doc_id:
        raise IngestError(f"{path}: cannot derive a document id from its name; rename it to include letters")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise IngestError(f"{path}: cannot be read ({exc}); check that it exists and is readable") from exc
    if suffix == ".pdf":
        pages, numbered = read_pdf(path, data), True
    else:
        pages, numbered = (_decode_text(path, data),), False
    return RawDocument(
        doc_id=doc_id,
        path=str(path),
        pages=pages,
        has_page_numbers=numbered,
        sha256=hashlib.sha256(data).hexdigest(),
    )


def _decode_text(path: Path, data: bytes) -> str:
    """UTF-8 (with or without BOM); otherwise cp1252, then latin-1, with a warning."""
    text = None
    for encoding in ("utf-8-sig", *_FALLBACK_ENCODINGS):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if encoding in _FALLBACK_ENCODINGS:
            log.warning("%s is not valid UTF-8; read it as %s instead (re-save it as UTF-8 to silence this)",
                        path, encoding)  # fmt: skip
        break
    if not text or not text.strip():
        raise IngestError(f"{path}: the file is empty; add the document's text or delete the file")
    return text


def _is_candidate(path: Path, root: Path) -> bool:
    """Skip hidden files and folders, ``catalog.json``, READMEs and unsupported file types."""
    relative = path.relative_to(root)
    if any(part.startswith(".") for part in relative.parts):
        return False
    name = path.name.lower()
    if name in _IGNORED_NAMES or name.startswith("readme.") or name == "readme":
        log.debug("ignoring %s (corpus metadata)", path)
        return False
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        log.debug("ignoring %s (unsupported suffix %r)", path, path.suffix)
        return False
    return True


def corpus_files(corpus_dir: Path) -> list[Path]:
    """The supported files under ``corpus_dir`` (recursively), in sorted path order."""
    if not corpus_dir.is_dir():
        raise IngestError(
            f"corpus folder {corpus_dir} does not exist; create it and put the papers there, "
            "or pass --corpus PATH"
        )
    return sorted((p for p in corpus_dir.rglob("*") if p.is_file() and _is_candidate(p, corpus_dir)),
                  key=lambda p: p.relative_to(corpus_dir).as_posix())  # fmt: skip


def iter_corpus(corpus_dir: Path) -> Iterator[RawDocument | SkippedFile]:
    """Each of :func:`corpus_files` read, one at a time (a streaming build holds one batch)."""
    owners: dict[str, str] = {}
    for path in corpus_files(corpus_dir):
        doc_id = doc_id_for(path)
        if doc_id in owners:
            reason = (f"document id {doc_id!r} is already used by {owners[doc_id]}; "
                      "rename one of the two files")  # fmt: skip
            log.warning("skipping %s: %s", path, reason)
            yield SkippedFile(str(path), reason)
            continue
        try:
            document = read_document(path)
        except IngestError as exc:
            log.warning("skipping %s", exc)
            yield SkippedFile(str(path), str(exc))
            continue
        owners[doc_id] = str(path)
        yield document


def ingest_corpus(corpus_dir: Path) -> IngestReport:
    """Read every supported file under ``corpus_dir`` (recursively, in sorted path order).

    Unreadable files and second files with an already used ``doc_id`` are reported in
    ``IngestReport.skipped``; only a missing ``corpus_dir`` raises ``IngestError``.
    """
    documents: list[RawDocument] = []
    skipped: list[SkippedFile] = []
    for item in iter_corpus(corpus_dir):
        (documents if isinstance(item, RawDocument) else skipped).append(item)  # type: ignore[arg-type]
    log.info("ingested %d documents from %s, skipped %d", len(documents), corpus_dir, len(skipped))
    return IngestReport(documents=tuple(documents), skipped=tuple(skipped))
