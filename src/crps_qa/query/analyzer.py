"""One question, analysed once: the :class:`Query` record every later stage reads.

    analyzer = QueryAnalyzer(index_data, embedder, settings)     # once per loaded index
    query = analyzer.analyze("how long did pain releif last?")  # corrected, expanded, its terms
    query = analyzer.encode(query)                               # + its vector and token vectors
    query.text, query.corrections      # "how long did pain relief last?", (Correction("releif", "relief"),)

The analyzer owns what turns a typed question into what is searched: the Speller (typos,
:mod:`crps_qa.query.spelling`), the abbreviation expander (:mod:`crps_qa.ingest.abbrev`), the
corpus vocabulary (:mod:`crps_qa.query.coverage`, words no paper uses) and the term IDF table the
answerer weighs question terms with. Search stages and the answerer read the record and re-derive
nothing.
"""

from __future__ import annotations

import functools
import re
import threading
from dataclasses import dataclass, field, replace

import numpy as np

from crps_qa.index.embed import Embedder, TokenEncoder, TokenVectors
from crps_qa.index.store import IndexData
from crps_qa.index.tables import terms
from crps_qa.ingest.abbrev import QueryExpander
from crps_qa.query.coverage import Coverage
from crps_qa.query.spelling import Speller
from crps_qa.settings import Settings
from crps_qa.types import Correction
from crps_qa.vocab import QUESTION_WORDS, idf_from_df, idf_table

TERMS_CACHE = 50_000  # texts whose terms are kept (a few hundred bytes each)
_WORDS = re.compile(r"[\w-]+")


@dataclass(frozen=True)
class Query:
    """A question as every stage sees it. ``text`` is what is searched: ``typed`` (whitespace
    collapsed) with ``corrections`` applied; ``expanded`` adds the corpus's abbreviations and
    spelling variants (BM25 and the document prior search it). ``terms`` (content terms → IDF),
    ``missing`` (specific words no paper uses) and ``unknown_share`` (IDF share of terms no passage
    has) are filled for answering; ``vector`` and ``tokens`` (its pooled and token vectors) once
    :meth:`QueryAnalyzer.encode` ran."""

    typed: str
    text: str
    expanded: str
    corrections: tuple[Correction, ...] = ()
    terms: dict[str, float] = field(default_factory=dict, compare=False)
    missing: tuple[str, ...] = ()
    unknown_share: float = 0.0
    vector: np.ndarray | None = field(default=None, repr=False, compare=False)
    tokens: TokenVectors | None = field(default=None, repr=False, compare=False)


class QueryAnalyzer:
    """Built once per loaded index; thread-safe (the term table is built once, under a lock)."""

    def __init__(self, data: IndexData, embedder: Embedder, settings: Settings) -> None:
        self.data = data
        self.embedder = embedder
        self.expander = QueryExpander(dict(data.expansions) if settings.query_expansion else {})
        tables = data.tables  # counted at index time (None: an index built before they were stored)
        self.speller = None
        if settings.spelling_correction:
            self.speller = (Speller.from_counts(tables.words) if tables is not None
                            else Speller.build((t.text for t in data.texts.values()), data.expansions))
        self._coverage: Coverage | None = None
        self._idf: tuple[dict[str, float], float] | None = None  # term IDF over passages, built on first ask
        self._lock = threading.Lock()
        # the answerer asks for the terms of each candidate sentence twice per question, and the
        # same sentences come back for related questions: memoized (lru_cache is thread-safe)
        self._terms = functools.lru_cache(maxsize=TERMS_CACHE)(lambda text: tuple(terms(text, self.expander)))

    # ------------------------------------------------------------------ analysis
    def analyze(self, question: str, *, correct: bool = True, answer: bool = False) -> Query:
        """The record of ``question`` (whitespace collapsed), its typos corrected unless ``correct``
        is False; ``answer`` adds the terms, missing words and unknown share the answerer needs."""
        typed = " ".join(question.split())
        text, corrections = self.correct(typed) if correct else (typed, ())
        query = Query(typed=typed, text=text, expanded=self.expander.expand(text), corrections=corrections)
        if not answer:
            return query
        terms = self.question_terms(text)
        idf, unseen = self.idf()
        total = sum(idf.get(t, unseen) for t in terms)
        unknown = sum(unseen for t in terms if t not in idf)
        return replace(query, terms={t: idf.get(t, unseen) for t in terms},
                       missing=self.coverage().missing(text), unknown_share=unknown / total if total else 0.0)

    def encode(self, query: Query, *, joint: bool = True, tokens: bool = True,
               vector: np.ndarray | None = None) -> Query:
        """``query`` with its vector and, for a token encoder, its token vectors. ``joint``: both from
        one model pass (``encode_with_tokens``); else the vector by ``encode`` (or ``vector``, when a
        batch was encoded already) and the token vectors by ``encode_tokens`` (``tokens=False``
        leaves them out)."""
        encoder = self.embedder
        if joint and vector is None and isinstance(encoder, TokenEncoder):
            vectors, token_vectors = encoder.encode_with_tokens([query.text])
            return replace(query, vector=vectors[0], tokens=token_vectors[0])
        if vector is None:
            vector = encoder.encode([query.text])[0]
        with_tokens = tokens and isinstance(encoder, TokenEncoder)
        return replace(query, vector=vector, tokens=encoder.encode_tokens([query.text])[0] if with_tokens else None)

    def correct(self, text: str) -> tuple[str, tuple[Correction, ...]]:
        """``text`` with typos of corpus words corrected, and the corrections (none when the
        spelling_correction setting is off). Correcting a corrected text changes nothing."""
        return self.speller.correct(text) if self.speller is not None else (text, ())

    # ------------------------------------------------------------------ terms
    def terms(self, text: str) -> list[str]:
        """BM25 terms of ``text`` expanded with the corpus's abbreviations, number words as digits."""
        return list(self._terms(text))

    def question_terms(self, question: str) -> set[str]:
        """The terms of the question's content words (question words such as "how" left out)."""
        return set(self.terms(" ".join(w for w in _WORDS.findall(question) if w.lower() not in QUESTION_WORDS)))

    def idf(self) -> tuple[dict[str, float], float]:
        """IDF of every term over the passages, and of a term no passage has (built on first use)."""
        with self._lock:
            if self._idf is None:
                tables = self.data.tables
                if tables is not None and QueryExpander(dict(tables.expansions)).pairs == self.expander.pairs:
                    self._idf = idf_from_df(tables.term_df, tables.passages)  # the same terms, counted at build
                else:
                    self._idf = idf_table(self.terms(p.text) for p in self.data.passages)
            return self._idf

    def weight(self, term: str) -> float:
        idf, unseen = self.idf()
        return idf.get(term, unseen)

    def coverage(self) -> Coverage:
        """The corpus's vocabulary, for the question words no paper uses (built on first use)."""
        with self._lock:
            if self._coverage is None:
                tables = self.data.tables
                self._coverage = (Coverage.from_words(tables.vocabulary) if tables is not None else
                                  Coverage.build((t.text for t in self.data.texts.values()), self.data.expansions))
            return self._coverage
