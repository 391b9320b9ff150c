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
from dataclasses import dataclass, replace

import numpy as np

from crps_qa.answer.answerer import CANDIDATE_PASSAGES, Answerer
from crps_qa.errors import NotFoundError, QueryError
from crps_qa.index.embed import Embedder, TokenVectors, load_embedder
from crps_qa.index.store import IndexData, check_compatible, load_index, read_manifest
from crps_qa.search.late import TOKEN_CACHE
from crps_qa.search.retrieve import Retriever
from crps_qa.settings import MODES, Settings
from crps_qa.types import Answer, Correction, Hit, Passage

WARM_BATCH = 256  # sentences encoded per model call by Pipeline.warm


@dataclass(frozen=True)
class SearchRequest:
    """A checked request. ``query`` is what is searched: the question as typed (``question``,
    whitespace collapsed) with ``corrections`` applied."""

    query: str
    k: int
    mode: str
    doc_ids: tuple[str, ...] = ()
    question: str = ""
    corrections: tuple[Correction, ...] = ()


class Pipeline:
    """Model + index + retriever for one index folder. Thread-safe: the loaded index is immutable
    and is replaced as a whole by :meth:`reload_if_changed`."""

    def __init__(self, settings: Settings, embedder: Embedder, data: IndexData) -> None:
        self.settings = settings
        self.embedder = embedder
        self._retriever = Retriever(data, embedder, settings)
        self._answerer: Answerer | None = None  # built on first ask (it indexes term statistics)
        self._swap = threading.Lock()

    @staticmethod
    def preflight(settings: Settings) -> None:
        """Fail fast, before the slow model load, when there is no index or it used another model."""
        manifest = read_manifest(settings.index_dir)
        check_compatible(manifest, settings.index_dir, model=settings.model, dimension=None)

    @classmethod
    def open(cls, settings: Settings, embedder: Embedder | None = None) -> Pipeline:
        """Load the current index of ``settings.index_dir`` (refusing a mismatched one) and the model."""
        cls.preflight(settings)
        embedder = embedder or load_embedder(settings.model)
        data = load_index(settings.index_dir, model=settings.model, dimension=embedder.dimension)
        return cls(settings, embedder, data)

    @property
    def retriever(self) -> Retriever:
        return self._retriever

    @property
    def data(self) -> IndexData:
        return self._retriever.data

    def reload_if_changed(self) -> bool:
        """Load a newer build if ``crps-qa index`` made one; requests in flight keep the old one."""
        manifest = read_manifest(self.settings.index_dir)
        if manifest.get("build_id") == self.data.build_id:
            return False
        with self._swap:
            if read_manifest(self.settings.index_dir).get("build_id") == self.data.build_id:
                return False
            data = load_index(self.settings.index_dir, model=self.settings.model, dimension=self.embedder.dimension)
            self._retriever = Retriever(data, self.embedder, self.settings)
        return True

    def validate(
        self, query: str, *, k: int | None = None, mode: str = "hybrid", doc_ids: Collection[str] = (),
        correct: bool = True,
    ) -> SearchRequest:
        """Check a request and return it normalised, or raise QueryError saying what to change.
        Its typos are corrected unless ``correct`` is False (search it as typed)."""
        s = self.settings
        if not isinstance(query, str) or not query.strip():
            raise QueryError("The query is empty. Type a question, e.g. 'What dose of ketamine was used?'")
        query = " ".join(query.split())
        if len(query) > s.max_query_chars:
            raise QueryError(
                f"The query is {len(query)} characters long; the limit is {s.max_query_chars}. Shorten it."
            )
        k = s.default_k if k is None else k
        if not 1 <= k <= s.max_k:
            raise QueryError(f"k must be between 1 and {s.max_k}, got {k}.")
        if mode not in MODES:
            raise QueryError(f"Unknown mode {mode!r}; use one of: {', '.join(MODES)}.")
        unknown = sorted(set(doc_ids) - set(self.data.documents))
        if unknown:
            raise NotFoundError(
                f"Unknown document id(s): {', '.join(unknown)}. List them with: crps-qa documents"
            )
        corrected, corrections = self._retriever.correct(query) if correct else (query, ())
        return SearchRequest(corrected, k, mode, tuple(doc_ids), query, corrections)

    def search(
        self, query: str, *, k: int | None = None, mode: str = "hybrid", doc_ids: Collection[str] = (),
        correct: bool = True,
    ) -> list[Hit]:
        return self.run(self.validate(query, k=k, mode=mode, doc_ids=doc_ids, correct=correct))

    def run(self, request: SearchRequest) -> list[Hit]:
        """The hits of a request :meth:`validate` returned (its query already corrected, or to be
        searched as typed): for callers that also report the request's corrections."""
        retriever = self._retriever
        vector, tokens = self.encode(request.query, retriever) if request.mode == "hybrid" else (None, None)
        return retriever.search(request.query, k=request.k, mode=request.mode, doc_ids=request.doc_ids,
                                vector=vector, tokens=tokens, correct=False)

    def encode(self, query: str, retriever: Retriever | None = None) -> tuple[np.ndarray, TokenVectors | None]:
        """The query's vector and, when word-by-word matching is on, its token vectors: one model pass."""
        matcher = (retriever or self._retriever).matcher
        if matcher is not None:  # it exists only for an embedder with token vectors
            vectors, tokens = matcher.encoder.encode_with_tokens([query])
            return vectors[0], tokens[0]
        return self.embedder.encode([query])[0], None

    def ask(
        self, question: str, *, k: int | None = None, mode: str = "hybrid", doc_ids: Collection[str] = (),
        correct: bool = True,
    ) -> Answer:
        """An extractive answer with exact citations, or a refusal. The top ``k`` passages come with
        it, followed by any cited passage ranked below ``k``, so every citation's passage is there.

        Candidate sentences are drawn from the top ``max(k, CANDIDATE_PASSAGES)`` hits."""
        request = self.validate(question, k=k, mode=mode, doc_ids=doc_ids, correct=correct)
        retriever = self._retriever
        # one pass of the model gives the question's vector (search, sentence cosine) and its token
        # vectors (re-scoring and the word-by-word match of candidate sentences)
        vector, tokens = self.encode(request.query, retriever)
        hits = retriever.search(
            request.query, k=max(request.k, CANDIDATE_PASSAGES), mode=request.mode, doc_ids=request.doc_ids,
            vector=vector, tokens=tokens, correct=False,  # corrected by validate, or to be searched as typed
        )
        answer = self.answerer(retriever).answer(request.query, hits, k=request.k, question_vector=vector,
                                                 question_tokens=tokens)
        return replace(answer, question=request.question, query=request.query, corrections=request.corrections)

    def answerer(self, retriever: Retriever | None = None) -> Answerer:
        """The answerer over ``retriever``'s index (the current one by default), built once per index."""
        retriever = retriever or self._retriever
        answerer = self._answerer
        if answerer is None or answerer.data is not retriever.data:
            answerer = Answerer(
                retriever.data, self.embedder, refusal_threshold=self.settings.refusal_threshold,
                expander=retriever.expander, matcher=retriever.matcher,
            )
            self._answerer = answerer
        return answerer

    def warm(self) -> int:
        """Build the answerer and encode the token vectors of every indexed sentence that the
        index does not store (up to the matcher's cache size) now, so the first questions do not
        pay for them. Returns how many sentences were encoded or found cached: 0 when the index
        stores them all (``crps-qa index`` does). The service runs this in the background on load."""
        retriever = self._retriever
        self.answerer(retriever)
        matcher = retriever.matcher
        if matcher is None:
            return 0
        passages = retriever.data.passages
        matcher.title_vectors(sorted({p.doc_id for p in passages}))
        keys = sorted({(passages[row].doc_id, a, b) for row in range(len(passages))
                       for a, b in matcher.sentence_spans(row)})
        if matcher.stored is not None:
            keys = [key for key in keys if key not in matcher.stored]
        keys = keys[:TOKEN_CACHE]
        for start in range(0, len(keys), WARM_BATCH):
            matcher.token_vectors(keys[start : start + WARM_BATCH])
        return len(keys)

    def passage(self, chunk_id: str) -> Passage:
        data = self.data
        row = data.row_of.get(chunk_id)
        if row is None:
            raise NotFoundError(f"No passage with id {chunk_id!r} in the current index.")
        return data.passages[row]
