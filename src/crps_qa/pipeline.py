"""The one entry object: builds every part from ``Settings`` and validates what callers send.

    pipeline = Pipeline.open(Settings())              # loads the model and the current index
    hits = pipeline.search("how long did pain relief last?", k=5)
    answer = pipeline.ask("how long did pain relief last?")   # cited sentences, or a refusal
    pipeline.validate("how long did pain releif last?").corrections   # (Correction("releif", "relief"),)

Front doors (CLI, HTTP service, evaluation) hold one Pipeline; nothing is global.
"""

from __future__ import annotations

import threading
from collections.abc import Collection
from dataclasses import dataclass

from crps_qa.answer.answerer import Answerer
from crps_qa.answer.candidates import CANDIDATE_PASSAGES
from crps_qa.answer.second_opinion import second_opinion_for
from crps_qa.errors import NotFoundError, QueryError
from crps_qa.index.embed import Embedder, embedder_for
from crps_qa.index.manifest import check_compatible, read_manifest
from crps_qa.index.store import IndexData, load_index
from crps_qa.query.analyzer import Query, QueryAnalyzer
from crps_qa.search.late import TOKEN_CACHE
from crps_qa.search.retrieve import Retriever
from crps_qa.settings import MODES, Settings
from crps_qa.types import Answer, Correction, Hit

WARM_BATCH = 256  # sentences encoded per model call by Pipeline.warm


@dataclass(frozen=True)
class SearchRequest:
    """A checked request: ``query`` is the question analysed (typos corrected, unless searched as
    typed), not yet encoded."""

    query: Query
    k: int
    mode: str
    doc_ids: tuple[str, ...] = ()

    @property
    def corrections(self) -> tuple[Correction, ...]:
        return self.query.corrections


@dataclass(frozen=True)
class Parts:
    """What one loaded index is searched with; replaced as a whole when a newer build loads."""

    data: IndexData
    analyzer: QueryAnalyzer
    retriever: Retriever
    answerer: Answerer


class Pipeline:
    """Model + index + analyzer, retriever and answerer for one index folder. Thread-safe: the
    loaded parts are immutable and replaced as a whole by :meth:`reload_if_changed`."""

    def __init__(self, settings: Settings, embedder: Embedder, data: IndexData) -> None:
        self.settings = settings
        self.embedder = embedder
        self._parts = self._build(data)
        self._swap = threading.Lock()

    def _build(self, data: IndexData) -> Parts:
        analyzer = QueryAnalyzer(data, self.embedder, self.settings)
        retriever = Retriever(data, self.embedder, self.settings, analyzer.expander)
        answerer = Answerer(data, self.embedder, analyzer, retriever.matcher,
                            refusal_threshold=self.settings.refusal_threshold,
                            second=second_opinion_for(self.settings))  # issue 16: optional second opinion
        return Parts(data, analyzer, retriever, answerer)

    @staticmethod
    def preflight(settings: Settings) -> None:
        """Fail fast, before the slow model load, when there is no index or it used another model."""
        manifest = read_manifest(settings.index_dir)
        check_compatible(manifest, settings.index_dir, model=settings.model, dimension=None,
                         backend=settings.embed_backend)

    @classmethod
    def open(cls, settings: Settings, embedder: Embedder | None = None) -> Pipeline:
        """Load the current index of ``settings.index_dir`` (refusing a mismatched one) and, unless
        ``embedder`` is given, the model (after :meth:`preflight`, so a missing index fails fast)."""
        if embedder is None:
            cls.preflight(settings)
            embedder = embedder_for(settings)
        data = load_index(settings.index_dir, model=settings.model, dimension=embedder.dimension,
                          backend=settings.embed_backend)
        return cls(settings, embedder, data)

    @property
    def parts(self) -> Parts:
        return self._parts

    @property
    def retriever(self) -> Retriever:
        return self._parts.retriever

    @property
    def analyzer(self) -> QueryAnalyzer:
        return self._parts.analyzer

    @property
    def data(self) -> IndexData:
        return self._parts.data

    def answerer(self) -> Answerer:
        return self._parts.answerer

    def reload_if_changed(self) -> bool:
        """Load a newer build if ``crps-qa index`` made one; requests in flight keep the old one."""
        manifest = read_manifest(self.settings.index_dir)
        if manifest.get("build_id") == self.data.build_id:
            return False
        with self._swap:
            if read_manifest(self.settings.index_dir).get("build_id") == self.data.build_id:
                return False
            data = load_index(self.settings.index_dir, model=self.settings.model, dimension=self.embedder.dimension,
                              backend=self.settings.embed_backend)
            self._parts = self._build(data)
        return True

    def validate(
        self, query: str, *, k: int | None = None, mode: str = "hybrid", doc_ids: Collection[str] = (),
        correct: bool = True, answer: bool = False, parts: Parts | None = None,
    ) -> SearchRequest:
        """Check a request and return it with its question analysed, or raise QueryError saying what
        to change. Its typos are corrected unless ``correct`` is False (search it as typed);
        ``answer`` analyses it for answering too."""
        s, parts = self.settings, parts or self._parts
        if not isinstance(query, str) or not query.strip():
            raise QueryError("The query is empty. Type a question, e.g. 'What dose of ketamine was used?'")
        length = len(" ".join(query.split()))
        if length > s.max_query_chars:
            raise QueryError(f"The query is {length} characters long; the limit is {s.max_query_chars}. Shorten it.")
        k = s.default_k if k is None else k
        if not 1 <= k <= s.max_k:
            raise QueryError(f"k must be between 1 and {s.max_k}, got {k}.")
        if mode not in MODES:
            raise QueryError(f"Unknown mode {mode!r}; use one of: {', '.join(MODES)}.")
        unknown = sorted(set(doc_ids) - set(parts.data.documents))
        if unknown:
            raise NotFoundError(
                f"Unknown document id(s): {', '.join(unknown)}. List them with: crps-qa documents"
            )
        return SearchRequest(parts.analyzer.analyze(query, correct=correct, answer=answer), k, mode, tuple(doc_ids))

    def search(
        self, query: str, *, k: int | None = None, mode: str = "hybrid", doc_ids: Collection[str] = (),
        correct: bool = True,
    ) -> list[Hit]:
        return self.run(self.validate(query, k=k, mode=mode, doc_ids=doc_ids, correct=correct))

    def run(self, request: SearchRequest) -> list[Hit]:
        """The hits of a request :meth:`validate` returned: for callers that also report the
        request's corrections."""
        parts = self._parts
        query = request.query
        if parts.retriever.needs_vectors(request.mode):
            # one pass of the model for hybrid (vector and token vectors); the vector alone for dense
            query = parts.analyzer.encode(query, joint=request.mode == "hybrid", tokens=False)
        return parts.retriever.search(query, k=request.k, mode=request.mode, doc_ids=request.doc_ids)

    def ask(
        self, question: str, *, k: int | None = None, mode: str = "hybrid", doc_ids: Collection[str] = (),
        correct: bool = True,
    ) -> Answer:
        """An extractive answer with exact citations, or a refusal. The top ``k`` passages come with
        it, followed by any cited passage ranked below ``k``, so every citation's passage is there.

        Candidate sentences are drawn from the top ``max(k, CANDIDATE_PASSAGES)`` hits."""
        parts = self._parts  # one snapshot: a reload may swap the index mid-request
        request = self.validate(question, k=k, mode=mode, doc_ids=doc_ids, correct=correct, answer=True, parts=parts)
        # one pass of the model gives the question's vector (search, sentence cosine) and its token
        # vectors (re-scoring and the word-by-word match of candidate sentences)
        query = parts.analyzer.encode(request.query)
        hits = parts.retriever.search(query, k=max(request.k, CANDIDATE_PASSAGES), mode=request.mode,
                                      doc_ids=request.doc_ids)
        return parts.answerer.answer(query, hits, k=request.k)

    def warm(self) -> int:
        """Build the answering tables (term IDF, the corpus vocabulary), ready the word matcher
        (title lines' token vectors, the kernel that scores stored codes) and encode the token vectors
        of every indexed sentence that the index does not store (up to the matcher's cache size)
        now, so the first questions do not pay for them. Returns how many sentences were encoded or
        found cached: 0 when the index stores them all (``crps-qa index`` does). The service runs
        this in the background on load."""
        parts = self._parts
        parts.analyzer.idf()
        parts.analyzer.coverage()
        matcher = parts.retriever.matcher
        if matcher is None:
            return 0
        passages = parts.data.passages
        matcher.title_vectors(sorted({p.doc_id for p in passages}))
        if matcher.stored is not None:
            matcher.stored.warm()  # the stored codes' scoring kernel, compiled or loaded once
        keys = sorted({(passages[row].doc_id, a, b) for row in range(len(passages))
                       for a, b in matcher.sentence_spans(row)})
        if matcher.stored is not None:
            keys = [key for key in keys if key not in matcher.stored]
        keys = keys[:TOKEN_CACHE]
        for start in range(0, len(keys), WARM_BATCH):
            matcher.token_vectors(keys[start : start + WARM_BATCH])
        return len(keys)
