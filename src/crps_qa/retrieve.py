"""Query → ranked, cited passages, by dense vectors, BM25 or both fused.

    retriever = Retriever(index_data, embedder, settings)
    hits = retriever.search("max ketamine infusion rate", k=5, mode="hybrid")
"""

from __future__ import annotations

from collections.abc import Collection

import faiss
import numpy as np

from crps_qa.abbrev import QueryExpander
from crps_qa.embed import Embedder
from crps_qa.fusion import Run, convex, ranked, rrf
from crps_qa.index import IndexData
from crps_qa.settings import Settings
from crps_qa.types import Hit


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
        vector = self.embedder.encode([query]) if vector is None else vector.reshape(1, -1)
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
    ) -> Run:
        """Scores of up to ``n`` passages for ``query`` under ``mode``.

        The query is first expanded with the corpus's own abbreviations ("CRPS" ↔ "complex
        regional pain syndrome") unless the query_expansion setting is off."""
        query = self.expander.expand(query)
        rows = self.rows_for(doc_ids)
        if mode == "dense":
            return self.dense_run(query, n, rows, vector)
        if mode == "bm25":
            return self.bm25_run(query, n, rows)
        if mode != "hybrid":
            raise ValueError(f"unknown mode {mode!r}")
        pool = max(n, self.settings.candidates)
        runs = [self.dense_run(query, pool, rows, vector), self.bm25_run(query, pool, rows)]
        if self.settings.fusion == "rrf":
            return rrf(runs, k=self.settings.rrf_k)
        w = self.settings.dense_weight
        return convex(runs, weights=[w, 1.0 - w])

    def search(self, query: str, *, k: int, mode: str = "hybrid", doc_ids: Collection[str] | None = None) -> list[Hit]:
        """The ``k`` best passages as cited hits, rank 1 first."""
        scores = self.run(query, mode=mode, n=k, doc_ids=doc_ids)
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
        )
