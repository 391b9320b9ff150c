"""Evaluation reports: a Markdown page and a PNG chart of hit rate at k = 1..10 by mode."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from crps_qa.evaluate.harness import ANSWER_METRICS, CURVE_KS, METRICS, AnswerReport, RetrievalReport


def markdown(report: RetrievalReport, *, title: str, command: str, extra: dict[str, Any] | None = None) -> str:
    lines = [f"# {title}", "", f"Command: `{command}`", "", f"Answerable questions: {report.questions}", ""]
    lines += ["| mode | " + " | ".join(METRICS) + " |", "|---|" + "---|" * len(METRICS)]
    for mode in report.modes:
        lines.append(f"| {mode} | " + " | ".join(f"{report.metrics[mode][m]:.3f}" for m in METRICS) + " |")
    lines += ["", "hit_rate@k = share of questions with an answer-bearing passage in the top k (answer recall);",
              "recall@k = share of all answer-bearing passages retrieved. Metrics computed with ranx.", ""]
    if extra:
        for heading, body in extra.items():
            lines += [f"## {heading}", "", body, ""]
    docs = sorted({d for per in report.per_doc.values() for d in per})
    lines += ["## hit_rate@5 per document", "", "| document | " + " | ".join(report.modes) + " |",
              "|---|" + "---|" * len(report.modes)]
    for doc in docs:
        lines.append(f"| {doc} | " + " | ".join(f"{report.per_doc[m].get(doc, 0):.2f}" for m in report.modes) + " |")
    if report.unmatchable:
        lines += ["", f"Answer text found in no passage (counted as misses): {', '.join(report.unmatchable)}"]
    for mode in report.modes:
        lines += ["", f"## Misses at 5 — {mode} ({len(report.misses[mode])})", ""]
        for miss in report.misses[mode]:
            lines.append(f"- **{miss['id']}** {miss['question']} — expected {miss['expected']} in `{miss['doc_id']}`")
            for got in miss["got"]:
                lines.append(f"  - got: {got}")
    return "\n".join(lines) + "\n"


def chart(report: RetrievalReport, path: Path, *, title: str = "Answer recall by mode") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=110)
    for mode in report.modes:
        ax.plot(CURVE_KS, report.curves[mode], marker="o", label=mode)
    ax.set_xlabel("k (passages returned)")
    ax.set_ylabel("questions with an answer in top k")
    ax.set_ylim(0, 1.02)
    ax.set_xticks(list(CURVE_KS))
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    ax.set_title(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def answers_markdown(report: AnswerReport) -> str:
    """The body of the report's "Answers" section: metrics, then the misses."""
    m = report.metrics
    lines = [
        f"Answerable questions: {report.answerable}; unanswerable: {report.unanswerable}.", "",
        "| " + " | ".join(ANSWER_METRICS) + " |", "|" + "---|" * len(ANSWER_METRICS),
        "| " + " | ".join(f"{m[name]:.3f}" for name in ANSWER_METRICS) + " |", "",
        "answer_hit_rate = answerable questions whose answer contains an expected answer string; "
        "refusal precision/recall over the unanswerable questions; answerable_refused = answerable "
        "questions refused.",
    ]
    if report.wrongly_answered:
        lines += ["", f"Unanswerable but answered: {', '.join(report.wrongly_answered)}"]
    lines += ["", f"### Answer misses ({len(report.misses)})", ""]
    for miss in report.misses:
        got = "refused" if miss["refused"] else miss["answer"][:200]
        lines.append(f"- **{miss['id']}** {miss['question']} — expected {miss['expected']}; got: {got}")
    return "\n".join(lines)
