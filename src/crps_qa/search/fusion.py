"""Merging ranked lists. A run maps an item id to its score, higher is better.

    rrf([{1: 9.0, 2: 5.0}, {2: 0.8, 3: 0.7}], k=60)
    # {1: 1/61, 2: 1/62 + 1/61, 3: 1/62}
    convex([{1: 9.0, 2: 5.0}, {2: 0.8, 3: 0.7}], weights=[0.5, 0.5])
    # min-max per run: {1: 0.5*1, 2: 0.5*0 + 0.5*1, 3: 0.5*0}
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

Run = dict[Hashable, float]


def ranked(run: Run) -> list[Hashable]:
    """Item ids by descending score; ties broken by id so results are deterministic."""
    return sorted(run, key=lambda item: (-run[item], str(item)))


def rrf(runs: Sequence[Run], *, k: int = 60) -> Run:
    """Reciprocal-rank fusion (Cormack et al. 2009): sum of 1 / (k + rank), rank from 1."""
    fused: Run = {}
    for run in runs:
        for rank, item in enumerate(ranked(run), start=1):
            fused[item] = fused.get(item, 0.0) + 1.0 / (k + rank)
    return fused


def minmax(run: Run) -> Run:
    """Scale scores to [0, 1] within the run; a run of equal scores becomes all 1."""
    if not run:
        return {}
    low, high = min(run.values()), max(run.values())
    if high == low:
        return {item: 1.0 for item in run}
    return {item: (score - low) / (high - low) for item, score in run.items()}


def convex(runs: Sequence[Run], *, weights: Sequence[float]) -> Run:
    """Weighted sum of min-max-normalised scores; an item missing from a run gets 0 there."""
    if len(runs) != len(weights):
        raise ValueError("convex fusion needs one weight per run")
    fused: Run = {}
    for run, weight in zip(runs, weights, strict=True):
        for item, score in minmax(run).items():
            fused[item] = fused.get(item, 0.0) + weight * score
    for run in runs:  # items seen only in other runs still appear, with what they earned
        for item in run:
            fused.setdefault(item, 0.0)
    return fused
