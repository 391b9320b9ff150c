"""Retrieval evaluation on a question set, with metrics from ranx (never hand-rolled).

A passage is relevant to a question when it contains one of the expected answer strings, compared
after lower-casing and deleting everything but letters and digits ("dura-\\ntion" == "duration").

    questions = load_questions(Path("eval/questions.jsonl"))
    report = evaluate_retrieval(pipeline.analyzer, pipeline.retriever, questions, modes=["hybrid", "bm25"])
    report.metrics["hybrid"]["hit_rate@5"]
    answers = evaluate_answers(pipeline.ask, questions)   # answer hit rate, refusal precision/recall
    answers.metrics["answer_hit_rate"]
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from crps_qa.errors import QueryError
from crps_qa.query.analyzer import QueryAnalyzer
from crps_qa.search.fusion import ranked
from crps_qa.search.retrieve import Retriever
from crps_qa.types import Answer, Passage

# hit_rate@k is "answer recall": the share of questions with an answer-bearing passage in the top k.
# recall@k is passage recall: the share of all answer-bearing passages found (overlapping chunks
# make several passages relevant, so it is lower).
METRICS = ("hit_rate@1", "hit_rate@5", "hit_rate@10", "recall@5", "recall@10", "mrr@10", "ndcg@10")
CURVE_KS = tuple(range(1, 11))


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    answers: tuple[str, ...]
    doc_id: str | None
    answerable: bool
    type: str = ""
    split: str = ""


def load_questions(path: Path, *, split: str | None = None) -> list[Question]:
    """Read an eval set (JSON lines); ``split`` keeps only "dev" or "test" questions."""
    questions = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise QueryError(f"Cannot read the question set {path}: {exc}") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            r = json.loads(line)
            q = Question(
                id=str(r["id"]), question=r["question"], answers=tuple(r.get("answers", ())),
                doc_id=r.get("doc_id"), answerable=bool(r.get("answerable", bool(r.get("answers")))),
                type=r.get("type", ""), split=r.get("split", ""),
            )
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise QueryError(f"{path} line {number} is not a valid question record ({exc}).") from exc
        if split in (None, "all") or q.split == split:
            questions.append(q)
    return questions


def squash(text: str) -> str:
    """Lower-case letters and digits only: the form answers are matched in."""
    return re.sub(r"[^0-9a-z]", "", text.lower().replace("£", "≤"))


def relevant_passages(question: Question, passages: Sequence[Passage]) -> set[str]:
    """Chunk ids of the passages that contain an expected answer."""
    wanted = [squash(a) for a in question.answers if squash(a)]
    return {p.chunk_id for p in passages if any(w in squash(p.text) for w in wanted)}


@dataclass
class RetrievalReport:
    modes: list[str]
    questions: int
    metrics: dict[str, dict[str, float]]  # mode → metric → mean over answerable questions
    curves: dict[str, list[float]]  # mode → hit rate at k = 1..10
    per_doc: dict[str, dict[str, float]]  # mode → doc_id → hit_rate@5
    misses: dict[str, list[dict[str, Any]]]  # mode → questions with no answer in the top 5
    unmatchable: list[str] = field(default_factory=list)  # answer text found in no passage at all

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def evaluate_retrieval(
    analyzer: QueryAnalyzer, retriever: Retriever, questions: Sequence[Question], *, modes: Sequence[str],
    depth: int = 10,
) -> RetrievalReport:
    """Rank passages for every answerable question under each mode and score the runs with ranx."""
    from ranx import Qrels, Run, evaluate

    answerable = [q for q in questions if q.answerable and q.answers]
    passages, row_of = retriever.data.passages, retriever.data.row_of
    qrels = {q.id: dict.fromkeys(relevant_passages(q, passages), 1) for q in answerable}
    judged = [q for q in answerable if qrels[q.id]]
    unmatchable = [q.id for q in answerable if not qrels[q.id]]
    metrics, curves, per_doc, misses = {}, {}, {}, {}
    for mode in modes:
        run: dict[str, dict[str, float]] = {}
        for q in answerable:
            query = analyzer.analyze(q.question)
            if retriever.needs_vectors(mode):
                query = analyzer.encode(query, joint=False, tokens=retriever.needs_tokens(mode))
            scores = retriever.run(query, mode=mode, n=depth)
            top = ranked(scores)[:depth]
            # ranx needs a non-empty run per query; a dummy id with a tiny score counts as a miss.
            run[q.id] = {passages[row].chunk_id: float(scores[row]) for row in top} or {"<none>": 0.0}
        names = list(dict.fromkeys([*METRICS, *(f"hit_rate@{k}" for k in CURVE_KS)]))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            per_query = evaluate(
                Qrels({q.id: qrels[q.id] for q in judged}), Run({q.id: run[q.id] for q in judged}),
                names, return_mean=False, make_comparable=True,
            ) if judged else {name: np.zeros(0) for name in names}
        # Questions whose answer is in no passage count as misses (score 0), not as absent.
        total = len(answerable) or 1
        mean = {name: float(np.sum(per_query[name])) / total for name in names}
        metrics[mode] = {name: mean[name] for name in METRICS}
        curves[mode] = [mean[f"hit_rate@{k}"] for k in CURVE_KS]
        hit5 = dict(zip([q.id for q in judged], np.asarray(per_query["hit_rate@5"]).tolist(), strict=True))
        per_doc[mode] = _per_doc(answerable, hit5)
        misses[mode] = [
            {
                "id": q.id, "question": q.question, "expected": list(q.answers), "doc_id": q.doc_id,
                "got": [f"{passages[row_of[c]].doc_id}: {passages[row_of[c]].text[:160]}"
                        for c in list(run[q.id])[:3] if c != "<none>"],
            }
            for q in answerable if hit5.get(q.id, 0.0) == 0.0
        ]
    return RetrievalReport(list(modes), len(answerable), metrics, curves, per_doc, misses, unmatchable)


def _per_doc(questions: Sequence[Question], hit5: dict[str, float]) -> dict[str, float]:
    by_doc: dict[str, list[float]] = {}
    for q in questions:
        by_doc.setdefault(q.doc_id or "-", []).append(hit5.get(q.id, 0.0))
    return {doc: sum(v) / len(v) for doc, v in sorted(by_doc.items())}


# ---------------------------------------------------------------------------- answers

# answer_hit_rate: share of answerable questions whose (non-refused) quoted sentences contain an
# expected answer string (under an "uncertain" verdict too: they are cited, see calibration.py for
# the verdicts); refusal_precision / refusal_recall: refused questions that were unanswerable, and
# unanswerable questions that were refused; answerable_refused: answerable questions refused.
ANSWER_METRICS = ("answer_hit_rate", "refusal_precision", "refusal_recall", "answerable_refused")


@dataclass
class AnswerReport:
    answerable: int
    unanswerable: int
    metrics: dict[str, float]
    misses: list[dict[str, Any]]  # answerable questions answered without the expected text, or refused
    wrongly_answered: list[str]  # unanswerable questions that got an answer

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def answer_hit(answer: str, expected: Sequence[str]) -> bool:
    """True when ``answer`` contains one of the ``expected`` strings (compared after :func:`squash`)."""
    text = squash(answer)
    return any(squash(e) and squash(e) in text for e in expected)


def evaluate_answers(ask: Callable[[str], Answer], questions: Sequence[Question]) -> AnswerReport:
    """Ask every question (``ask`` is e.g. ``pipeline.ask``) and score answers and refusals."""
    answerable = [q for q in questions if q.answerable and q.answers]
    unanswerable = [q for q in questions if not q.answerable]
    answers = {q.id: ask(q.question) for q in [*answerable, *unanswerable]}
    # the quoted sentences count, also under an "uncertain" verdict (cited and highlighted, not stated)
    hits = [q for q in answerable
            if not answers[q.id].refused and answer_hit(answers[q.id].draft or answers[q.id].answer, q.answers)]
    refused_ok = [q for q in unanswerable if answers[q.id].refused]
    refused_bad = [q for q in answerable if answers[q.id].refused]
    refused = len(refused_ok) + len(refused_bad)
    metrics = {
        "answer_hit_rate": len(hits) / (len(answerable) or 1),
        "refusal_precision": len(refused_ok) / refused if refused else 0.0,
        "refusal_recall": len(refused_ok) / (len(unanswerable) or 1),
        "answerable_refused": len(refused_bad) / (len(answerable) or 1),
    }
    hit_ids = {q.id for q in hits}
    misses = [
        {"id": q.id, "question": q.question, "expected": list(q.answers), "refused": answers[q.id].refused,
         "answer": answers[q.id].answer, "confidence": answers[q.id].confidence}
        for q in answerable if q.id not in hit_ids
    ]
    wrong = [q.id for q in unanswerable if not answers[q.id].refused]
    return AnswerReport(len(answerable), len(unanswerable), metrics, misses, wrong)
