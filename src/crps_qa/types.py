"""Records that flow through the pipeline: ingest → normalize → chunk → index → retrieve.

All records are frozen dataclasses. Character offsets always point into the *cleaned*
document text (``CleanDocument.text``), so ``doc.text[p.char_start:p.char_end] == p.text``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class RawDocument:
    """A file as read from disk: one string per page (a text file is one page with no number)."""

    doc_id: str
    path: str
    pages: tuple[str, ...]
    has_page_numbers: bool  # True for PDFs: page i of ``pages`` is printed page i + 1
    sha256: str  # hash of the file's bytes


@dataclass(frozen=True)
class Section:
    """A heading found in the cleaned text; it governs the text from ``start`` to the next one."""

    start: int
    title: str


@dataclass(frozen=True)
class CleanDocument:
    """Cleaned text of one document, with page starts and detected section headings."""

    doc_id: str
    text: str
    page_starts: tuple[int, ...] = ()  # offset of each page's first character; empty = no pages
    sections: tuple[Section, ...] = ()

    def page_at(self, offset: int) -> int | None:
        """1-based page number holding ``offset``, or None for documents without pages."""
        if not self.page_starts:
            return None
        page = 0
        for i, start in enumerate(self.page_starts):
            if start <= offset:
                page = i
            else:
                break
        return page + 1

    def page_span(self, start: int, end: int) -> tuple[int | None, int | None]:
        """``(page, page_end)`` of ``text[start:end]``: the page it starts on, and the page it ends
        on when that is a later one (else None). ``(None, None)`` for documents without pages."""
        first, last = self.page_at(start), self.page_at(max(start, end - 1))
        return first, (last if last != first else None)

    def section_at(self, offset: int) -> str | None:
        """Title of the section holding ``offset`` (None before the first heading, or where a
        section titled "" returns to no heading after a table)."""
        title = None
        for section in self.sections:
            if section.start <= offset:
                title = section.title
            else:
                break
        return title or None


FACET_NAMES = ("design", "n", "population", "intervention", "follow_up", "year")


@dataclass(frozen=True)
class Facet:
    """One fact about a paper's evidence and where it was read: ``text[char_start:char_end]``
    states it (``source="text"``), or the catalog set it (``source="catalog"``; the span then
    points at the value in the text when it appears there, else it is empty, 0-0)."""

    value: Any
    char_start: int
    char_end: int
    source: str = "text"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Facets:
    """A paper's evidence facets (:mod:`crps_qa.ingest.facets`); None = not stated in the paper."""

    design: Facet | None = None  # "case report", "case series", "retrospective cohort", ...
    n: Facet | None = None  # number of patients (int)
    population: Facet | None = None  # {"crps_type", "limb", "age", "sex"}: those stated
    intervention: Facet | None = None  # {"drug", "route", "dose", "duration"}: those stated
    follow_up: Facet | None = None  # e.g. "4 weeks"
    year: Facet | None = None  # {"from": 1996, "to": 2002}: treatment period, else the paper's own date

    def to_dict(self) -> dict[str, Any]:
        return {name: None if (f := getattr(self, name)) is None else f.to_dict() for name in FACET_NAMES}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Facets:
        data = data or {}
        return cls(**{name: Facet(**data[name]) for name in FACET_NAMES if data.get(name)})


@dataclass(frozen=True)
class DocumentInfo:
    """Catalog metadata of a document (from ``corpus/catalog.json`` or derived from the file),
    and the evidence facets read from its text."""

    doc_id: str
    title: str
    path: str
    authors: str | None = None
    year: int | None = None
    venue: str | None = None
    study_type: str | None = None
    facets: Facets = field(default_factory=Facets)

    def to_dict(self) -> dict[str, Any]:
        return {**{k: v for k, v in asdict(self).items() if k != "facets"}, "facets": self.facets.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DocumentInfo:
        """The inverse of ``to_dict`` (an index built before facets existed gives empty ones)."""
        return cls(**{**data, "facets": Facets.from_dict(data.get("facets"))})


@dataclass(frozen=True)
class Passage:
    """A chunk of a cleaned document, addressed by character span."""

    chunk_id: str
    doc_id: str
    text: str
    char_start: int
    char_end: int
    section: str | None = None
    page: int | None = None  # the page the passage starts on (PDFs)
    page_end: int | None = None  # the page it ends on, when that is a later one
    role: str = "body"  # body, table, figure_caption, references or front_matter (crps_qa.ingest.roles)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Hit:
    """One ranked search result. ``to_dict`` is the stable JSON contract of search output."""

    rank: int
    score: float
    doc_id: str
    title: str
    section: str | None
    page: int | None
    char_start: int
    char_end: int
    chunk_id: str
    text: str
    page_end: int | None = None  # the passage's last page, when it runs on past ``page``
    role: str = "body"  # the passage's role (crps_qa.ingest.roles); only some roles are ever quoted

    def to_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "score": round(float(self.score), 6),
            "doc_id": self.doc_id,
            "title": self.title,
            "section": self.section,
            "page": self.page,
            "page_end": self.page_end,
            "char_start": self.char_start,
            "char_end": self.char_end,
            "chunk_id": self.chunk_id,
            "text": self.text,
            "role": self.role,
        }


@dataclass(frozen=True)
class SkippedFile:
    """A corpus file that could not be ingested, and why (reported, never fatal)."""

    path: str
    reason: str


@dataclass(frozen=True)
class IngestReport:
    documents: tuple[RawDocument, ...]
    skipped: tuple[SkippedFile, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Correction:
    """A question word read as a typo of a word the papers use (:mod:`crps_qa.query.spelling`)."""

    word: str
    correction: str

    def to_dict(self) -> dict[str, str]:
        return {"word": self.word, "correction": self.correction}


@dataclass(frozen=True)
class Citation:
    """Where one answer sentence came from: ``document_text[char_start:char_end] == quote``."""

    marker: int
    doc_id: str
    title: str
    section: str | None
    page: int | None  # the page the quote starts on
    char_start: int
    char_end: int
    quote: str
    chunk_id: str
    page_end: int | None = None  # the page it ends on, when the quoted sentence runs over a page break

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Answer:
    """An extractive answer: quoted sentences with inline markers [n], or a refusal.

    ``to_dict`` is the stable JSON contract of ``crps-qa ask --json`` and ``POST /ask``.
    """

    question: str
    answer: str
    refused: bool
    confidence: float
    citations: tuple[Citation, ...]
    passages: tuple[Hit, ...]
    missing_terms: tuple[str, ...] = ()  # specific words of the question no paper uses (why it was refused)
    corrections: tuple[Correction, ...] = ()  # question words read as typos and corrected before searching
    query: str = ""  # the question as searched (corrections applied); "" = the question itself
    # issue 16: "answered", "uncertain" (sentences cited, text claims nothing) or "not_found" (= refused);
    # "" = not decided (a record made by hand): read as "not_found" when refused, else "answered"
    verdict: str = ""
    signals: tuple[tuple[str, float], ...] = field(default=(), compare=False)  # the estimate's features
    draft: str = field(default="", compare=False)  # the best sentences, also when not shown (evaluation)

    @property
    def decided(self) -> str:
        """The verdict, also for a record made without one."""
        return self.verdict or ("not_found" if self.refused else "answered")

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "answer": self.answer,
            "refused": self.refused,
            "confidence": round(float(self.confidence), 4),
            "citations": [c.to_dict() for c in self.citations],
            "passages": [h.to_dict() for h in self.passages],
            "missing_terms": list(self.missing_terms),
            "corrections": [c.to_dict() for c in self.corrections],
            "query": self.query or self.question,
            "verdict": self.decided,
        }
