"""Query → ranked, cited passages, by dense vectors, BM25 or both fused.

    retriever = Retriever(index_data, embedder, settings)
    hits = retriever.search("max ketamine infusion rate", k=5, mode="hybrid")

Every mode first corrects typos against the corpus's words (:mod:`crps_qa.query.spelling`, unless the
spelling_correction setting is off). Hybrid: dense and BM25 runs fused, the best passages
re-scored by their best sentence's pooled cosine, a document prior added, then the best
``rescore_depth`` passages re-scored by their best sentence's word-by-word match
(:mod:`crps_qa.search.late`) when the embedder has token vectors.
"""

from __future__ import annotations

from collections.abc import Collection

import faiss
import numpy as np

from crps_qa.index.embed import Embedder, TokenEncoder, TokenVectors
from crps_qa.index.lexical import Bm25Index
from crps_qa.index.store import IndexData
from crps_qa.ingest.abbrev import QueryExpander
from crps_qa.query.spelling import Speller
from crps_qa.search.fusion import Run, convex, minmax, ranked, rrf
from crps_qa.search.late import WordMatcher
from crps_qa.settings import Settings
from crps_qa.types import Correction, Hit


class Retriever:
    """Read-only over one loaded index: safe to share between threads."""

    def __init__(self, data: IndexData, embedder: Embedder, settings: Settings) -> None:
        self.data = data
        self.embedder = embedder
        self.settings = settings
        self._rows_by_doc: dict[str, np.ndarray] = {}
        for row, passage in enumerate(data.passages):
            self._rows_by_doc.setdefault(passage.doc_id, []).append(row)  # type: ignore[arg-type]
        self._rows_by_doc = {d: np.asarray(r, dtype=np.int64) for d, r in self._rows_by_doc.items()}
        self.expander = QueryExpander(dict(data.expansions) if settings.query_expansion else {})
        self.speller = (Speller.build((t.text for t in data.texts.values()), data.expansions)
                        if settings.spelling_correction else None)
        # word-by-word matching (re-scoring here, sentence choice in answers); None without token vectors
        self.matcher = WordMatcher(data, embedder, self.expander) if isinstance(embedder, TokenEncoder) else None
        # Whole-document BM25, for the document prior (see :meth:`document_prior`).
        self._doc_order = [doc_id for doc_id in data.documents if doc_id in data.texts]
        self._doc_bm25 = (
            Bm25Index.build([data.texts[d].text for d in self._doc_order])
            if settings.doc_weight > 0 and len(self._doc_order) > 1
            else None
        )
        position = {doc_id: i for i, doc_id in enumerate(self._doc_order)}
        self._doc_of_row = np.asarray(
            [position.get(p.doc_id, -1) for p in data.passages] if self._doc_bm25 is not None else [],
            dtype=np.int64,
        )

    def correct(self, query: str) -> tuple[str, tuple[Correction, ...]]:
        """The query with typos of corpus words corrected, and the corrections (none when the
        spelling_correction setting is off). Correcting a corrected query changes nothing."""
        return self.speller.correct(query) if self.speller is not None else (query, ())

    def rows_for(self, doc_ids: Collection[str] | None) -> np.ndarray | None:
        """Passage rows of the given documents (None = no filter)."""
        if not doc_ids:
            return None
        parts = [self._rows_by_doc.get(d, np.zeros(0, dtype=np.int64)) for d in doc_ids]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    def dense_run(
        self, query: str, n: int, rows: np.ndarray | None = None, vector: np.ndarray | None = None
    ) -> Run:
        """Top ``n`` passages by cosine similarity (optionally only among ``rows``).
        ``vector`` is the query's embedding when the caller already has it (batch evaluation)."""
        if (rows is not None and len(rows) == 0) or self.data.dense.ntotal == 0:
            return {}
        vector = (self.embedder.encode([query]) if vector is None else vector).reshape(1, -1)
        n = min(n, self.data.dense.ntotal if rows is None else len(rows))
        params = None if rows is None else faiss.SearchParameters(sel=faiss.IDSelectorBatch(rows))
        scores, ids = self.data.dense.search(vector, n, params=params)
        return {int(i): float(s) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0}

    def bm25_run(self, query: str, n: int, rows: np.ndarray | None = None) -> Run:
        """Top ``n`` passages by BM25 with a score above zero (optionally only among ``rows``)."""
        scores = self.data.bm25.scores(query)
        if rows is not None:
            masked = np.zeros_like(scores)
            masked[rows] = scores[rows]
            scores = masked
        positive = np.flatnonzero(scores > 0)
        if len(positive) > n:
            positive = positive[np.argpartition(-scores[positive], n - 1)[:n]]
        return {int(i): float(scores[i]) for i in positive}

    def run(
        self,
        query: str,
        *,
        mode: str,
        n: int,
        doc_ids: Collection[str] | None = None,
        vector: np.ndarray | None = None,
        tokens: TokenVectors | None = None,
        correct: bool = True,
    ) -> Run:
        """Scores of up to ``n`` passages for ``query`` under ``mode``.

        The query's typos are corrected first (:meth:`correct`; ``correct=False`` searches it as
        given, e.g. when the caller corrected it already). It is then expanded with the
        corpus's own abbreviations ("CRPS" ↔ "complex regional pain syndrome") unless the
        query_expansion setting is off. Hybrid mode fuses the dense and BM25 runs, re-scores the
        best ``rescore_depth`` passages by their single best-matching sentence (see
        :meth:`rescore`), adds a document prior (see :meth:`document_prior`) and re-scores the best
        passages by their best sentence's word-by-word match (see :meth:`interact`). ``vector`` and
        ``tokens`` are the (corrected) query's embedding and token vectors when the caller already
        has them."""
        question = self.correct(query)[0] if correct else query
        query = self.expander.expand(question)
        rows = self.rows_for(doc_ids)
        if mode == "bm25":
            return self.bm25_run(query, n, rows)
        if mode not in ("dense", "hybrid"):
            raise ValueError(f"unknown mode {mode!r}")
        if vector is None:
            vector = self.embedder.encode([question])[0]
        if mode == "dense":
            return self.dense_run(query, n, rows, vector)
        pool = max(n, self.settings.candidates)
        runs = [self.dense_run(query, pool, rows, vector), self.bm25_run(query, pool, rows)]
        if self.settings.fusion == "rrf":
            fused = rrf(runs, k=self.settings.rrf_k)
        else:
            w = self.settings.dense_weight
            fused = convex(runs, weights=[w, 1.0 - w])
        return self.interact(self.document_prior(self.rescore(fused, vector), query), question, tokens)

    def interact(self, scores: Run, question: str, tokens: TokenVectors | None = None) -> Run:
        """Scale the scores by the best one and add ``match_weight`` x the word-by-word match of
        each of the top ``rescore_depth`` passages' best sentence (in [0, 1]).

        Passages below the cut keep their scaled score and stay below every re-scored one (the
        bonus is never negative). The match asks whether one sentence covers each thing the
        question names, by meaning and with the paper's title line, which the pooled passage and
        sentence vectors miss ("How did the veteran first get hurt?" → "... suffered a fall while on
        active duty"). e.g. scores 2.0 / 1.8 / 1.0, matches 0.50 / 0.70 / 0.60, weight 3:
        1.0 + 1.5, 0.9 + 2.1, 0.5 + 1.8 → 2.5 / 3.0 / 2.3.
        """
        weight, depth = self.settings.match_weight, self.settings.rescore_depth
        if weight <= 0 or depth <= 0 or self.matcher is None or not scores:
            return scores
        candidates = ranked(scores)[:depth]
        top = scores[candidates[0]]
        matches = self.matcher.passage_match(question, candidates, tokens)
        if matches is None or top <= 0:
            return scores
        out = {row: score / top for row, score in scores.items()}
        for row, match in zip(candidates, matches, strict=True):
            out[row] += weight * match
        return out

    def document_prior(self, scores: Run, query: str) -> Run:
        """Add ``doc_weight`` x (BM25 of the query against the passage's whole document, divided
        by the best document's) to every passage.

        A question often names its paper by something only said once in it, far from the answer
        ("the Rotterdam ward", "the teenager's ankle"): the whole document matches, the passage
        with the answer does not. e.g. document BM25 6.0 / 3.0 / 0.0, weight 0.3: passages of the
        first document gain 0.3, of the second 0.15, of the third nothing.
        """
        if self._doc_bm25 is None or not scores:
            return scores
        doc_scores = self._doc_bm25.scores(query)
        top = float(doc_scores.max())
        if top <= 0:
            return scores
        weight = self.settings.doc_weight / top
        return {row: score + weight * float(doc_scores[self._doc_of_row[row]]) if self._doc_of_row[row] >= 0
                else score for row, score in scores.items()}

    def rescore(self, fused: Run, vector: np.ndarray) -> Run:
        """Add ``sentence_weight`` x (how well the passage's best sentence or sentence pair matches the query) to
        the top ``rescore_depth`` passages.

        The fused scores are min-max scaled over all fused passages, the sentence matches over the
        candidates, so the bonus is in [0, weight]; passages below the cut keep their (lower)
        scaled fused score and their order. A passage vector averages all its sentences; a
        question usually asks what one sentence says.
        e.g. fused 0.9 / 0.6 / 0.3, best sentence cosine 0.40 / 0.70 / 0.55, weight 1:
        scaled 1.0 / 0.5 / 0.0 + bonus 0.0 / 1.0 / 0.5 → 1.0 / 1.5 / 0.5.
        """
        weight, depth = self.settings.sentence_weight, self.settings.rescore_depth
        if weight <= 0 or depth <= 0 or not fused or self.data.sentences is None or not len(self.data.sentences):
            return fused
        candidates = ranked(fused)[:depth]
        best = np.array([self.best_sentence_match(row, vector) for row in candidates], dtype=np.float32)
        bonus = minmax(dict(zip(candidates, best.tolist(), strict=True)))
        out = minmax(fused)
        for row in candidates:
            out[row] += weight * bonus[row]
        return out

    def best_sentence_match(self, row: int, vector: np.ndarray) -> float:
        """Highest cosine between the query and one sentence, or two adjacent sentences read
        together, of passage ``row`` (-1 for a passage without sentences).

        The pairs catch answers split over two sentences ("Ten patients received a second course.
        All of them were pain free."), where each half alone matches the question weakly."""
        ids = self.data.sentence_ids[row]
        if not len(ids):
            return -1.0
        units = self.data.sentences.vectors[ids]
        if len(ids) > 1:
            pairs = units[:-1] + units[1:]
            pairs /= np.maximum(np.linalg.norm(pairs, axis=1, keepdims=True), 1e-12)
            units = np.concatenate([units, pairs])
        return float(np.max(units @ vector.reshape(-1)))

    def search(
        self, query: str, *, k: int, mode: str = "hybrid", doc_ids: Collection[str] | None = None,
        vector: np.ndarray | None = None, tokens: TokenVectors | None = None, correct: bool = True,
    ) -> list[Hit]:
        """The ``k`` best passages as cited hits, rank 1 first (``vector`` and ``tokens``: the
        query's embedding and token vectors, if known)."""
        scores = self.run(query, mode=mode, n=k, doc_ids=doc_ids, vector=vector, tokens=tokens, correct=correct)
        return [self.hit(row, rank, scores[row]) for rank, row in enumerate(ranked(scores)[:k], start=1)]

    def hit(self, row: int, rank: int, score: float) -> Hit:
        passage = self.data.passages[row]
        return Hit(
            rank=rank,
            score=score,
            doc_id=passage.doc_id,
            title=self.data.documents[passage.doc_id].title,
            section=passage.section,
            page=passage.page,
            char_start=passage.char_start,
            char_end=passage.char_end,
            chunk_id=passage.chunk_id,
            text=passage.text,
            role=passage.role,  # issue 16: the answerer never quotes references / front matter
        )
