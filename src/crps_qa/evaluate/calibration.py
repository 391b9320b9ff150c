"""Is the confidence honest? Correctness labels, cross-validated fitting, AUROC, ECE, reliability
and risk-coverage for the verdicts of :mod:`crps_qa.answer.verdict`.

    records = collect(pipeline.ask, questions, set_name="holdout")   # features + "is the quote right"
    summary = verdict_metrics(records)          # answered precision, coverage, ... (module doc below)
    ece(estimates, labels); reliability_chart(estimates, labels, Path("eval/reliability.png"))

A record is *right* when the question is answerable and the best sentences (``Answer.draft``, also
kept for a not_found answer) contain an expected answer string (:func:`harness.answer_hit`);
an unanswerable question's answer is never right. AUROC comes from ``sklearn.metrics``.

Verdict metrics over a set of records:

* ``answered_precision``  right answers among those with verdict ``answered`` (unanswerable included);
* ``coverage``            answerable questions with verdict ``answered``;
* ``unanswerable_held``   unanswerable questions *not* ``answered`` (``not_found`` or ``uncertain``);
* ``answerable_not_found`` answerable questions with verdict ``not_found``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from crps_qa.answer.verdict import ANSWERED, FEATURES, NOT_FOUND, Confidence
from crps_qa.evaluate.harness import Question, answer_hit
from crps_qa.types import Answer

VERDICT_METRICS = ("answered_precision", "coverage", "unanswerable_held", "answerable_not_found", "ece", "auroc")
BINS = 10  # reliability diagram and ECE: ten equal-width bins of the estimate


@dataclass(frozen=True)
class Record:
    """One asked question: its features, estimate, verdict and whether the best sentences are right."""

    id: str
    set: str
    answerable: bool
    right: bool
    estimate: float
    verdict: str
    features: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return self.__dict__.copy()


def collect(ask: Callable[[str], Answer], questions: Sequence[Question], *, set_name: str = "") -> list[Record]:
    """Ask every question and label its best sentences right or wrong (see module doc)."""
    out = []
    for q in questions:
        answer = ask(q.question)
        right = q.answerable and bool(q.answers) and answer_hit(answer.draft or answer.answer, q.answers)
        out.append(Record(q.id, set_name or q.split, q.answerable, right, answer.confidence, answer.decided,
                          dict(answer.signals)))
    return out


def matrix(records: Sequence[Record], names: Sequence[str] = FEATURES) -> np.ndarray:
    return np.array([[r.features.get(n, 0.0) for n in names] for r in records], dtype=float)


def labels(records: Sequence[Record]) -> np.ndarray:
    return np.array([r.right for r in records], dtype=int)


def fit(records: Sequence[Record], *, answer_threshold: float = 0.5, uncertain_threshold: float = 0.0,
        c: float = 1.0, names: Sequence[str] = FEATURES) -> Confidence:
    """A logistic regression (scikit-learn, L2 with inverse strength ``c``) on the standardised
    features ``names``."""
    from sklearn.linear_model import LogisticRegression

    x, y = matrix(records, names), labels(records)
    means, scales = x.mean(axis=0), x.std(axis=0)
    scales[scales == 0] = 1.0
    model = LogisticRegression(C=c, max_iter=1000).fit((x - means) / scales, y)
    return Confidence(tuple(names), tuple(means.tolist()), tuple(scales.tolist()), tuple(model.coef_[0].tolist()),
                      float(model.intercept_[0]), answer_threshold, uncertain_threshold)


def estimates(model: Confidence, records: Sequence[Record]) -> np.ndarray:
    return np.array([model.estimate(r.features) for r in records])


def verdicts(model: Confidence, records: Sequence[Record], p: np.ndarray, *, floor: float) -> list[str]:
    """The verdict each record gets from ``model``'s thresholds and estimates ``p`` (a named missing
    term lowers evidence by 1, so it is below any floor)."""
    return [model.verdict(float(pi), evidence=r.features.get("evidence", 0.0), floor=floor)
            for r, pi in zip(records, p, strict=True)]


def verdict_metrics(records: Sequence[Record], p: np.ndarray | None = None,
                    decided: Sequence[str] | None = None) -> dict[str, float]:
    """See module doc; ``p`` and ``decided`` default to the records' own estimate and verdict."""
    from sklearn.metrics import roc_auc_score

    p = np.array([r.estimate for r in records]) if p is None else p
    decided = [r.verdict for r in records] if decided is None else decided
    y = labels(records)
    answerable = [r.answerable for r in records]
    answered = [d == ANSWERED for d in decided]
    n_ans = sum(answerable) or 1
    n_un = (len(records) - sum(answerable)) or 1
    return {
        "answered_precision": float(np.mean(y[answered])) if any(answered) else float("nan"),
        "coverage": sum(a and d for a, d in zip(answerable, answered, strict=True)) / n_ans,
        "unanswerable_held": sum(not a and not d for a, d in zip(answerable, answered, strict=True)) / n_un,
        "answerable_not_found": sum(a and v == NOT_FOUND for a, v in zip(answerable, decided, strict=True)) / n_ans,
        "ece": ece(p, y),
        "auroc": float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else float("nan"),
    }


def ece(p: np.ndarray, y: np.ndarray, bins: int = BINS) -> float:
    """Expected calibration error: the bin-size-weighted gap between mean estimate and accuracy."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            total += mask.mean() * abs(float(p[mask].mean()) - float(y[mask].mean()))
    return total


def risk_coverage(records: Sequence[Record], p: np.ndarray | None = None,
                  levels: Sequence[float] = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)) -> list[dict[str, float]]:
    """Precision of answering the most confident questions, at each coverage of the answerable ones:
    answer everything with an estimate at or above the threshold that reaches that coverage."""
    p = np.array([r.estimate for r in records]) if p is None else p
    y = labels(records)
    ans_p = np.sort(np.array([pi for r, pi in zip(records, p, strict=True) if r.answerable]))[::-1]
    rows = []
    for level in levels:
        if not len(ans_p):
            break
        t = ans_p[max(int(np.ceil(level * len(ans_p))) - 1, 0)]
        taken = p >= t
        rows.append({"coverage": float(np.mean([pi >= t for pi in ans_p])), "threshold": float(t),
                     "precision": float(y[taken].mean()) if taken.any() else float("nan"),
                     "answered": int(taken.sum())})
    return rows


def reliability_chart(p: np.ndarray, y: np.ndarray, path: Path, *, title: str = "Reliability of confidence") -> Path:
    """Mean estimate against share right per bin (dot size = questions in the bin), diagonal = calibrated."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    edges = np.linspace(0.0, 1.0, BINS + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, BINS - 1)
    xs, ys, ns = [], [], []
    for b in range(BINS):
        mask = which == b
        if mask.any():
            xs.append(float(p[mask].mean()))
            ys.append(float(y[mask].mean()))
            ns.append(int(mask.sum()))
    fig, ax = plt.subplots(figsize=(4.8, 4.4), dpi=110)
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="calibrated")
    ax.plot(xs, ys, color="tab:blue", marker=None)
    ax.scatter(xs, ys, s=[20 + 6 * n for n in ns], color="tab:blue", label="questions per bin")
    ax.set_xlabel("confidence (estimate that the quote is right)")
    ax.set_ylabel("share of quotes that were right")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    ax.set_title(f"{title} (ECE {ece(p, y):.3f})")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def calibration_markdown(records: Sequence[Record], png: str | None = None) -> str:
    """The report's calibration section: verdict metrics, AUROC, ECE and the risk-coverage table."""
    m = verdict_metrics(records)
    lines = ["| " + " | ".join(VERDICT_METRICS) + " |", "|" + "---|" * len(VERDICT_METRICS),
             "| " + " | ".join(f"{m[k]:.3f}" for k in VERDICT_METRICS) + " |", "",
             "answered_precision = answered quotes that contain an expected answer; coverage = answerable "
             "questions answered; unanswerable_held = unanswerable questions not answered (not_found or uncertain); "
             "answerable_not_found = answerable questions not_found; ECE over 10 bins; AUROC (scikit-learn) of "
             "confidence for a right quote against a wrong one.", "",
             "Risk-coverage (answer the most confident questions first):", "",
             "| coverage | threshold | precision | answered |", "|---|---|---|---|"]
    for row in risk_coverage(records):
        lines.append(f"| {row['coverage']:.2f} | {row['threshold']:.3f} | {row['precision']:.3f} | {row['answered']} |")
    if png:
        lines += ["", f"![reliability diagram]({png})"]
    return "\n".join(lines)
