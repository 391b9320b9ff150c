"""Retrieval as a list of stages, each ``(Query, Run) -> Run``.

    stages = [Dense(data), Bm25(data), Fuse(settings), SentenceRescore(data, 1.0, 30),
              DocumentPrior(data, 0.3), LateRescore(matcher, 3.0, 30)]
    run = Run.start(depth=100)
    for stage in stages:
        run = stage(query, run)
    run.scores      # {passage row: score}

First-stage retrievers (dense, BM25) add their run to ``pending`` and make it the current
``scores``; ``Fuse`` merges the pending runs; the re-scoring stages change ``scores``. A mode
(settings ``modes``) names its stages; :func:`build_stages` makes them for one index.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from crps_qa.index import ann
from crps_qa.index.lexical import Bm25Index
from crps_qa.index.store import IndexData
from crps_qa.index.tables import document_order
from crps_qa.query.analyzer import Query
from crps_qa.search.fusion import Run as Scores
from crps_qa.search.fusion import convex, minmax, ranked, rrf
from crps_qa.search.late import WordMatcher
from crps_qa.settings import Settings


@dataclass(frozen=True)
class Run:
    """Passage scores so far. ``depth``: how many passages a retriever returns; ``rows``: the only
    passage rows that may be returned (None = all); ``pending``: retriever runs not yet fused."""

    depth: int
    rows: np.ndarray | None = None
    scores: Scores | None = None
    pending: tuple[Scores, ...] = ()

    @property
    def current(self) -> Scores:
        return self.scores or {}


Stage = Callable[[Query, Run], Run]


def retrieved(run: Run, scores: Scores) -> Run:
    """``run`` after a retriever found ``scores``: current, and waiting to be fused."""
    return replace(run, scores=scores, pending=(*run.pending, scores))


@dataclass(frozen=True)
class Dense:
    """Top ``depth`` passages by cosine of the query's vector with the passage vectors."""

    data: IndexData

    def __call__(self, query: Query, run: Run) -> Run:
        index = self.data.dense
        if (run.rows is not None and len(run.rows) == 0) or index.ntotal == 0:
            return retrieved(run, {})
        n = min(run.depth, index.ntotal if run.rows is None else len(run.rows))
        scores, ids = ann.search(index, np.asarray(query.vector), n, run.rows)  # exact, HNSW or IVF; rows filter
        return retrieved(run, {int(i): float(s) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0})


@dataclass(frozen=True)
class Bm25:
    """Top ``depth`` passages by BM25 of the expanded query, with a score above zero."""

    data: IndexData

    def __call__(self, query: Query, run: Run) -> Run:
        scores = self.data.bm25.scores(query.expanded)
        if run.rows is not None:
            masked = np.zeros_like(scores)
            masked[run.rows] = scores[run.rows]
            scores = masked
        positive = np.flatnonzero(scores > 0)
        if len(positive) > run.depth:
            positive = positive[np.argpartition(-scores[positive], run.depth - 1)[: run.depth]]
        return retrieved(run, {int(i): float(scores[i]) for i in positive})


@dataclass(frozen=True)
class Fuse:
    """Merge the pending runs: reciprocal-rank fusion, or a convex sum of min-max scaled scores
    (``dense_weight`` for the first run, the rest for the second)."""

    fusion: str
    rrf_k: int
    dense_weight: float

    def __call__(self, query: Query, run: Run) -> Run:
        runs = list(run.pending)
        if self.fusion == "rrf":
            fused = rrf(runs, k=self.rrf_k)
        else:
            fused = convex(runs, weights=[self.dense_weight, 1.0 - self.dense_weight])
        return replace(run, scores=fused, pending=())


@dataclass(frozen=True)
class SentenceRescore:
    """Add ``weight`` x (how well the passage's best sentence or sentence pair matches the query) to
    the top ``depth`` passages.

    The scores are min-max scaled over all passages, the sentence matches over the candidates, so
    the bonus is in [0, weight]; passages below the cut keep their (lower) scaled score and their
    order. A passage vector averages all its sentences; a question usually asks what one says.
    e.g. fused 0.9 / 0.6 / 0.3, best sentence cosine 0.40 / 0.70 / 0.55, weight 1:
    scaled 1.0 / 0.5 / 0.0 + bonus 0.0 / 1.0 / 0.5 → 1.0 / 1.5 / 0.5.
    """

    data: IndexData
    weight: float
    depth: int

    def __call__(self, query: Query, run: Run) -> Run:
        fused, sentences = run.current, self.data.sentences
        if self.weight <= 0 or self.depth <= 0 or not fused or sentences is None or not len(sentences):
            return run
        candidates = ranked(fused)[: self.depth]
        best = self.best_matches(candidates, query.vector)
        bonus = minmax(dict(zip(candidates, best.tolist(), strict=True)))
        out = minmax(fused)
        for row in candidates:
            out[row] += self.weight * bonus[row]
        return replace(run, scores=out)

    def best_matches(self, rows: Sequence[int], vector: np.ndarray) -> np.ndarray:
        """For each passage row, the highest cosine between the query and one of its sentences, or
        two adjacent ones read together (-1 for a passage without sentences), from one product over
        all their sentences. The pairs catch answers split over two sentences ("Ten patients
        received a second course. All were pain free.")."""
        ids = [np.asarray(self.data.sentence_ids[row], dtype=np.int64) for row in rows]
        sizes = np.array([len(i) for i in ids], dtype=np.int64)
        best = np.full(len(rows), -1.0, dtype=np.float32)
        if not sizes.any():
            return best
        owner = np.repeat(np.arange(len(rows)), sizes)  # which passage each sentence belongs to
        units = self.data.sentences.vectors[np.concatenate(ids)]
        v = vector.reshape(-1)
        np.maximum.at(best, owner, units @ v)
        pair = np.flatnonzero(owner[:-1] == owner[1:])  # a sentence and the next one, same passage
        if len(pair):
            pairs = units[pair] + units[pair + 1]
            pairs /= np.maximum(np.linalg.norm(pairs, axis=1, keepdims=True), 1e-12)
            np.maximum.at(best, owner[pair], pairs @ v)
        return best


class DocumentPrior:
    """Add ``weight`` x (BM25 of the expanded query against the passage's whole document, divided
    by the best document's) to every passage.

    A question often names its paper by something only said once in it, far from the answer
    ("the Rotterdam ward"): the whole document matches, the passage with the answer does not.
    e.g. document BM25 6.0 / 3.0 / 0.0, weight 0.3: passages of the first document gain 0.3, of the
    second 0.15, of the third nothing."""

    def __init__(self, data: IndexData, weight: float) -> None:
        self.weight = weight
        tables = data.tables  # the documents' BM25, built at index time (None: an older index)
        order = list(tables.documents) if tables is not None else document_order(data)
        self._bm25 = None
        if weight > 0 and len(order) > 1:
            self._bm25 = tables.doc_bm25 if tables is not None else Bm25Index.build([data.texts[d].text for d in order])
        self._doc_of_row = np.zeros(0, dtype=np.int64)
        if self._bm25 is not None:  # each passage's document as a row of the documents' BM25 (-1: none)
            position = {doc_id: i for i, doc_id in enumerate(order)}
            to_order = np.asarray([position.get(d, -1) for d in data.documents] + [-1], dtype=np.int64)
            self._doc_of_row = to_order[data.doc_codes]  # code -1 (no record) picks the trailing -1

    def __call__(self, query: Query, run: Run) -> Run:
        scores = run.current
        if self._bm25 is None or not scores:
            return run
        doc_scores = self._bm25.scores(query.expanded)
        top = float(doc_scores.max())
        if top <= 0:
            return run
        weight = self.weight / top
        of_row = self._doc_of_row
        return replace(run, scores={row: score + weight * float(doc_scores[of_row[row]]) if of_row[row] >= 0
                                    else score for row, score in scores.items()})


@dataclass(frozen=True)
class LateRescore:
    """Scale the scores by the best one and add ``weight`` x the word-by-word match of each of the
    top ``depth`` passages' best sentence (in [0, 1], :class:`crps_qa.search.late.WordMatcher`),
    of its ``sentences`` nearest the question by sentence vector (0: all of them).

    Passages below the cut keep their scaled score and stay below every re-scored one (the bonus
    is never negative). The match asks whether one sentence covers each thing the question names
    ("How did the veteran first get hurt?" → "... suffered a fall while on active duty").
    e.g. scores 2.0 / 1.8 / 1.0, matches 0.50 / 0.70 / 0.60, weight 3:
    1.0 + 1.5, 0.9 + 2.1, 0.5 + 1.8 → 2.5 / 3.0 / 2.3."""

    matcher: WordMatcher | None
    weight: float
    depth: int
    sentences: int = 0

    def __call__(self, query: Query, run: Run) -> Run:
        scores = run.current
        if self.weight <= 0 or self.depth <= 0 or self.matcher is None or not scores:
            return run
        candidates = ranked(scores)[: self.depth]
        top = scores[candidates[0]]
        matches = self.matcher.passage_match(query.text, candidates, query.tokens,
                                             nearest=(query.vector, self.sentences) if self.sentences else None)
        if matches is None or top <= 0:
            return run
        out = {row: score / top for row, score in scores.items()}
        for row, match in zip(candidates, matches, strict=True):
            out[row] += self.weight * match
        return replace(run, scores=out)


STAGES = ("dense", "bm25", "fuse", "sentence", "document", "late")


def build_stages(data: IndexData, settings: Settings, matcher: WordMatcher | None) -> Mapping[str, Stage]:
    """Every stage, by the name modes use, over one index."""
    return {
        "dense": Dense(data),
        "bm25": Bm25(data),
        "fuse": Fuse(settings.fusion, settings.rrf_k, settings.dense_weight),
        "sentence": SentenceRescore(data, settings.sentence_weight, settings.rescore_depth),
        "document": DocumentPrior(data, settings.doc_weight),
        "late": LateRescore(matcher, settings.match_weight, settings.rescore_depth, settings.match_sentences),
    }


def run_stages(stages: Sequence[Stage], query: Query, run: Run) -> Scores:
    for stage in stages:
        run = stage(query, run)
    return run.current
