"""Query → ranked, cited passages: the stages of a mode run over one index.

    retriever = Retriever(index_data, embedder, settings)
    query = analyzer.encode(analyzer.analyze("max ketamine infusion rate"))
    hits = retriever.search(query, k=5, mode="hybrid")

A mode is a list of stages (settings ``hybrid_stages``, ``dense_stages``, ``bm25_stages``; see
:mod:`crps_qa.search.stages`). Hybrid by default: dense and BM25 runs fused, the best passages
re-scored by their best sentence's pooled cosine, a document prior added, then the best
``rescore_depth`` passages re-scored by their best sentence's word-by-word match
(:mod:`crps_qa.search.late`) when the embedder has token vectors.
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np

from crps_qa.index.embed import Embedder, TokenEncoder
from crps_qa.index.store import IndexData
from crps_qa.ingest.abbrev import QueryExpander
from crps_qa.query.analyzer import Query
from crps_qa.search.fusion import Run as Scores
from crps_qa.search.fusion import ranked
from crps_qa.search.late import WordMatcher
from crps_qa.search.stages import Run, build_stages, run_stages
from crps_qa.settings import RETRIEVERS, Settings
from crps_qa.types import Hit


class Retriever:
    """Read-only over one loaded index: safe to share between threads."""

    def __init__(self, data: IndexData, embedder: Embedder, settings: Settings,
                 expander: QueryExpander | None = None) -> None:
        """``expander``: the corpus's abbreviations, as the query analyzer expands with (by default
        those of ``data``, none when the query_expansion setting is off)."""
        self.data = data
        self.settings = settings
        self._rows_by_doc = data.rows_of_doc  # from the passages' document codes (no passage parsed)
        # word-by-word matching (re-scoring here, sentence choice in answers); None without token vectors
        if expander is None:
            expander = QueryExpander(dict(data.expansions) if settings.query_expansion else {})
        self.matcher = WordMatcher(data, embedder, expander) if isinstance(embedder, TokenEncoder) else None
        self.stages = build_stages(data, settings, self.matcher)

    def rows_for(self, doc_ids: Collection[str] | None) -> np.ndarray | None:
        """Passage rows of the given documents (None = no filter)."""
        if not doc_ids:
            return None
        parts = [self._rows_by_doc.get(d, np.zeros(0, dtype=np.int64)) for d in doc_ids]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    def run(self, query: Query, *, mode: str, n: int, doc_ids: Collection[str] | None = None) -> Scores:
        """Scores of up to ``n`` passages for ``query`` (analysed, with its vectors when the mode
        has dense or re-scoring stages) under ``mode``. Retrievers return ``n`` passages, or
        ``candidates`` when the mode fuses several."""
        names = self.settings.stages(mode)
        fused = sum(name in RETRIEVERS for name in names) > 1
        depth = max(n, self.settings.candidates) if fused else n
        return run_stages([self.stages[name] for name in names], query, Run(depth, self.rows_for(doc_ids)))

    def search(self, query: Query, *, k: int, mode: str = "hybrid", doc_ids: Collection[str] | None = None
               ) -> list[Hit]:
        """The ``k`` best passages as cited hits, rank 1 first."""
        scores = self.run(query, mode=mode, n=k, doc_ids=doc_ids)
        return [self.hit(row, rank, scores[row]) for rank, row in enumerate(ranked(scores)[:k], start=1)]

    def needs_vectors(self, mode: str) -> bool:
        """Whether ``mode`` reads the query's vectors (its dense, sentence or word-by-word stages)."""
        return any(name in ("dense", "sentence", "late") for name in self.settings.stages(mode))

    def needs_tokens(self, mode: str) -> bool:
        """Whether ``mode`` reads the query's token vectors (its word-by-word stage)."""
        return "late" in self.settings.stages(mode)

    def hit(self, row: int, rank: int, score: float) -> Hit:
        passage = self.data.passages[row]
        return Hit(
            rank=rank,
            score=score,
            doc_id=passage.doc_id,
            title=self.data.documents[passage.doc_id].title,
            section=passage.section,
            page=passage.page,
            page_end=passage.page_end,  # PDF passages that run over a page break (issue 17)
            char_start=passage.char_start,
            char_end=passage.char_end,
            chunk_id=passage.chunk_id,
            text=passage.text,
            role=passage.role,  # issue 16: the answerer never quotes references / front matter
        )
