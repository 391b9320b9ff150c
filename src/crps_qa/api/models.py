"""Request and response bodies of the HTTP service: the only place crps-qa uses pydantic models.

Response models mirror the records' ``to_dict`` contracts field for field (``Hit.to_dict()``,
``Answer.to_dict()``), so a hit from ``GET /search`` is the same JSON as one from ``crps-qa search --json``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field

from crps_qa.settings import MODES

QUESTION = "What was the highest ketamine infusion rate?"
MODE_DOC = "hybrid (dense + BM25 fused), dense (embedding similarity) or bm25 (keywords)."
K_DOC = "Number of passages, 1 to max_k (50 unless configured); default_k (5) when omitted."
DOC_ID_DOC = "Only passages from this document id (repeatable); see GET /documents."
MODE_ENUM = {"enum": list(MODES)}
# Markers that openapi.py replaces with the running service's limits (see there).
QUERY_LIMITS = {"x-limits": "query"}
K_LIMITS = {"x-limits": "k"}
Design = Literal["case report", "case series", "retrospective cohort", "prospective cohort",
                 "randomized controlled trial", "systematic review", "meta-analysis", "narrative review"]
DESIGN_DOC = ("Only papers of this study design (repeatable): case report, case series, retrospective cohort, "
              "prospective cohort, randomized controlled trial, systematic review, meta-analysis, narrative review.")
MIN_N_DOC = "Only papers with at least this many patients (papers that state no n are left out)."
YEAR_FROM_DOC = "Only papers whose period (treatment years, else publication year) reaches this year or later."
YEAR_TO_DOC = "Only papers whose period starts in this year or earlier."
DRUG_DOC = "Only papers whose intervention is this drug (ketamine also finds S-ketamine)."
CORRECT_DOC = ("Correct words that look like typos of words the papers use before searching (default); "
               "false searches the text exactly as sent.")


def _whole_number(value: Any) -> Any:
    """JSON Schema counts 5.0 as an integer; pydantic's strict mode (no true, no "5") does not."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


WholeNumber = Annotated[int, BeforeValidator(_whole_number)]
CountOfOne = Annotated[int, Field(ge=1), BeforeValidator(_whole_number)]


class ErrorOut(BaseModel):
    detail: str = Field(
        examples=["The query is empty. Type a question, e.g. 'What dose of ketamine was used?'"]
    )


class FiltersIn(BaseModel):
    """Evidence filters shared by search and ask; they narrow the papers searched."""

    design: list[Design] | Design | None = Field(None, description=DESIGN_DOC, examples=[["case report"]])
    min_n: CountOfOne | None = Field(None, description=MIN_N_DOC, examples=[10])
    year_from: WholeNumber | None = Field(None, description=YEAR_FROM_DOC, examples=[2000])
    year_to: WholeNumber | None = Field(None, description=YEAR_TO_DOC, examples=[2020])
    drug: str | None = Field(None, description=DRUG_DOC, examples=["ketamine"])


class SearchIn(FiltersIn):
    model_config = ConfigDict(
        extra="forbid",
        strict=True,  # JSON has types: k=true or k="5" is a mistake, not a number
        json_schema_extra={"examples": [{"query": QUESTION, "k": 3, "mode": "hybrid"}]},
    )

    query: str = Field(
        validation_alias=AliasChoices("query", "q"),
        description="The question or keywords (`q` also accepted).",
        json_schema_extra=QUERY_LIMITS,
    )
    k: WholeNumber | None = Field(None, description=K_DOC, json_schema_extra=K_LIMITS)
    mode: str = Field("hybrid", description=MODE_DOC, json_schema_extra=MODE_ENUM)
    doc_id: list[str] | str | None = Field(None, description=DOC_ID_DOC)
    correct_spelling: bool = Field(True, description=CORRECT_DOC)


class AskIn(FiltersIn):
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={"examples": [{"question": QUESTION, "k": 5}]},
    )

    question: str = Field(
        description="A question about CRPS or its treatment with ketamine.", json_schema_extra=QUERY_LIMITS
    )
    k: WholeNumber | None = Field(
        None, description="Passages to draw the answer from; " + K_DOC, json_schema_extra=K_LIMITS
    )
    mode: str = Field("hybrid", description=MODE_DOC, json_schema_extra=MODE_ENUM)
    doc_id: list[str] | str | None = Field(None, description=DOC_ID_DOC)
    correct_spelling: bool = Field(True, description=CORRECT_DOC)


ROLE_DOC = ("What the passage is: body, table, figure_caption, references or front_matter (title lines, "
            "affiliations, funding, conflicts, copyright, running headers). References and front matter are "
            "searchable but never quoted as an answer.")


class PassageOut(BaseModel):
    """A passage with its citation: ``document_text[char_start:char_end] == text``."""

    doc_id: str
    title: str
    section: str | None
    page: int | None
    page_end: int | None = Field(
        default=None, description="The page the passage ends on, when it runs on past `page` (PDFs)."
    )
    char_start: int
    char_end: int
    chunk_id: str
    text: str
    role: str = Field("body", description=ROLE_DOC, examples=["body"])


class HitOut(PassageOut):
    """A passage ranked for a query: its rank (1 = best) and fused score, then the passage."""

    rank: int
    score: float


class CorrectionOut(BaseModel):
    """A question word read as a typo of a word the papers use, and what was searched instead."""

    word: str = Field(examples=["releif"])
    correction: str = Field(examples=["relief"])


CORRECTIONS_DOC = ("Question words read as typos of words the papers use and replaced before searching "
                   "(setting spelling_correction). Empty when there are none.")


class SearchOut(BaseModel):
    query: str = Field(description="The query as searched: whitespace collapsed, typos corrected.")
    mode: str
    k: int
    hits: list[HitOut]
    corrections: list[CorrectionOut] = Field(description=CORRECTIONS_DOC)


class PassageContextOut(BaseModel):
    passage: PassageOut
    previous: PassageOut | None = Field(description="The passage before it in the same document, if any.")
    next: PassageOut | None = Field(description="The passage after it in the same document, if any.")


class FacetOut(BaseModel):
    """One evidence fact and the span of the cleaned text it was read from."""

    value: Any = Field(description="design: str; n: int; population/intervention: object of the attributes "
                       "stated; follow_up: str; year: {from, to}.")
    char_start: int
    char_end: int
    source: str = Field(description='"text" (read from the paper) or "catalog" (set in catalog.json; '
                        "the span is empty when the text does not contain the value).")


class FacetsOut(BaseModel):
    """Evidence facets of a paper; null where the paper does not state one."""

    design: FacetOut | None
    n: FacetOut | None
    population: FacetOut | None
    intervention: FacetOut | None
    follow_up: FacetOut | None
    year: FacetOut | None


class DocumentOut(BaseModel):
    doc_id: str
    title: str
    authors: str | None
    year: int | None
    venue: str | None
    study_type: str | None
    path: str
    passages: int = Field(description="Number of indexed passages.")
    facets: FacetsOut


class DocumentsOut(BaseModel):
    documents: list[DocumentOut]


class SectionOut(BaseModel):
    title: str
    char_start: int


class DocumentDetailOut(DocumentOut):
    chars: int = Field(description="Length of the cleaned text that char_start/char_end index.")
    pages: int | None = Field(description="Page count (PDFs); null for plain text.")
    sections: list[SectionOut]
    text: str | None = Field(description="The cleaned text, when asked for with include_text=true.")


class CitationOut(BaseModel):
    marker: int
    doc_id: str
    title: str
    section: str | None
    page: int | None
    page_end: int | None = Field(
        default=None, description="The page the quote ends on, when it runs on past `page` (PDFs)."
    )
    char_start: int
    char_end: int
    quote: str
    chunk_id: str


class AnswerOut(BaseModel):
    question: str
    answer: str
    refused: bool
    confidence: float = Field(description="Calibrated estimate that the quoted sentences contain the answer (0-1).")
    citations: list[CitationOut]
    passages: list[HitOut]
    missing_terms: list[str] = Field(
        description="Specific words of the question (drug, test or procedure names) that no indexed paper "
        "uses: why a question was refused. Empty when there are none.",
        examples=[["lidocaine"]],
    )
    corrections: list[CorrectionOut] = Field(description=CORRECTIONS_DOC)
    query: str = Field(description="The question as searched: whitespace collapsed, typos corrected.")
    receipt: dict[str, Any] = Field(
        description="What produced this answer: index build id and manifest hash, model name, backend and "
        "weights hash, the ranking and answering settings, the request as typed and as searched, every paper's "
        "hash, each citation's chunk_id, span and content hashes, and the crps-qa version. "
        "`crps-qa replay RECEIPT.json` asks again and reports \"identical\" or what differs."
    )
    verdict: str = Field(
        description="answered: the quoted sentences answer it (calibrated: right about 85% of the time or more); "
        "uncertain: these passages may answer it, check the sources (`citations` point at the best sentences, "
        "`answer` claims nothing); not_found: none of the papers clearly answers it (the same as refused: true).",
        json_schema_extra={"enum": ["answered", "uncertain", "not_found"]},
        examples=["answered"],
    )


class HealthOut(BaseModel):
    status: str = Field("ok", examples=["ok"])


class ReadyOut(BaseModel):
    ready: bool
    detail: str | None = Field(description="Why the service is not ready and how to fix it; null when ready.")
    index_dir: str
    model: str
    build_id: str | None
    built_at: str | None = Field(description="When the served index was built (UTC, ISO 8601).")
    documents: int
    passages: int
    warmed: bool = Field(
        description="True once every indexed sentence's token vectors are at hand: read from the index "
        "(crps-qa index stores them), or for an older index encoded in the background after it loads; before "
        "that the first questions over new sentences are slower."
    )
    checked_at: str | None = Field(description="When the index folder was last checked for a new build.")


class ReloadOut(ReadyOut):
    reloaded: bool = Field(description="True when this call loaded a new index build.")
