"""The crps-qa error tree. Every message says what happened and how to fix it.

    CrpsQaError
    ├── ConfigError            bad setting or option
    ├── QueryError             empty, too long or otherwise unusable query / queries file
    ├── IngestError            a corpus file cannot be read (reported and skipped by the indexer)
    │   ├── NotAPdfError         a ``.pdf`` file that is something else (an image, a Word file, HTML)
    │   ├── PdfCorruptError      a PDF pypdf cannot parse
    │   ├── PdfEncryptedError    a PDF locked with a password
    │   ├── PdfEmptyError        a PDF with zero pages
    │   ├── PdfTooLongError      a PDF longer than the page limit (a book: split it)
    │   └── PdfNoTextError       a PDF of page images without a text layer (needs OCR)
    ├── IndexError_            base for index problems
    │   ├── IndexMissingError  no index built yet
    │   ├── IndexCorruptError  files missing or unreadable
    │   ├── IndexMismatchError built with another model / dimension / format version
    │   └── IndexBuildError    a distributed build (index --ray) failed; the previous build stays current
    ├── ModelError             the embedding model cannot be loaded
    └── NotFoundError          unknown document or passage id

The CLI maps them to exit codes (cli.py); the HTTP service to status codes (api/errors.py).
"""

from __future__ import annotations

REBUILD_HINT = "crps-qa index --rebuild"


class CrpsQaError(Exception):
    """Base class of every error crps-qa raises on purpose."""


class ConfigError(CrpsQaError):
    pass


class QueryError(CrpsQaError):
    pass


class IngestError(CrpsQaError):
    pass


class NotAPdfError(IngestError):
    pass


class PdfCorruptError(IngestError):
    pass


class PdfEncryptedError(IngestError):
    pass


class PdfEmptyError(IngestError):
    pass


class PdfTooLongError(IngestError):
    pass


class PdfNoTextError(IngestError):
    pass


class IndexError_(CrpsQaError):  # noqa: N801, N818 - avoid shadowing the builtin IndexError
    pass


class IndexMissingError(IndexError_):
    pass


class IndexCorruptError(IndexError_):
    pass


class IndexMismatchError(IndexError_):
    pass


class IndexBuildError(IndexError_):
    pass


class ModelError(CrpsQaError):
    pass


class NotFoundError(CrpsQaError):
    pass
