"""Fit the correctness estimate and the verdict thresholds by cross-validation over the question sets.

    python eval/fit_confidence.py                 # ask every question, fit, write confidence.json
    python eval/fit_confidence.py --reuse         # refit from eval/confidence_features.jsonl
    python eval/fit_confidence.py --holdout eval/holdout3.jsonl   # score a new set with the fitted model

Every set (eval, probe, holdout, holdout2, typos, holdout3, holdout4) is held out in turn: the model
is fitted on the others, its thresholds chosen on those others' own leave-one-set-out estimates, and
the held-out set is scored. eval/questions.jsonl and eval/typos.jsonl ask the same questions (typos
added), so one is never in the training data when the other is held out. The committed model is
fitted on all seven sets, with thresholds chosen on the pooled leave-one-set-out estimates.
holdout5 is not among them: it is run once, after every choice (eval/TUNING.md).

Questions are asked with the second opinion (all-mpnet-base-v2, when installed) switched on, so the
feature cache holds its features too; four feature sets are compared each set held out in turn:
FEATURES (written to confidence.json), FORMER (the 19 features of the first two passes), FORMER with
the specific-term features (TRIED, not kept) and FEATURES with the second opinion's (written to
confidence-mpnet.json).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np

from crps_qa.answer.verdict import (
    ANSWERED,
    COEFFICIENTS,
    COEFFICIENTS_SECOND,
    FEATURES,
    FORMER,
    SECOND_FEATURES,
    TRIED,
    Confidence,
)
from crps_qa.evaluate.calibration import (
    VERDICT_METRICS,
    Record,
    collect,
    estimates,
    fit,
    labels,
    risk_coverage,
    verdict_metrics,
    verdicts,
)
from crps_qa.evaluate.harness import load_questions

HERE = Path(__file__).resolve().parent
SETS = {"eval": "questions.jsonl", "probe": "probe.jsonl", "holdout": "holdout.jsonl", "holdout2": "holdout2.jsonl",
        "typos": "typos.jsonl", "holdout3": "holdout3.jsonl", "holdout4": "holdout4.jsonl"}
TWINS = {"eval": "typos", "typos": "eval"}  # the same questions, so never on both sides of a split
FEATURE_CACHE = HERE / "confidence_features.jsonl"
PRECISION_TARGET = 0.86  # answered precision asked of the training estimates (0.85 required, a little slack)
MIN_ANSWERED = 10  # a threshold must keep at least this many training answers (no precision of 1 out of 1)
NOT_FOUND_BUDGET = 0.08  # answerable questions allowed not_found on the training estimates (0.10 required)
C = 0.3  # inverse L2 strength of the logistic regression (pooled leave-one-set-out AUROC flat from 0.1 to 3)
VARIANTS = {"without mpnet": FEATURES, "former 19 features": FORMER,
            "former 19 + specific-term features (tried)": FORMER + TRIED, "with mpnet": FEATURES + SECOND_FEATURES}


def choose_thresholds(records: list[Record], p: np.ndarray, *, floor: float) -> tuple[float, float]:
    """(answer, uncertain) thresholds: the lowest estimate at which answered precision reaches
    PRECISION_TARGET, and the highest below it that leaves at most NOT_FOUND_BUDGET answerable
    questions not_found."""
    y = labels(records)
    usable = np.array([r.features.get("evidence", 0.0) >= floor for r in records])
    answerable = np.array([r.answerable for r in records])
    candidates = sorted(set(np.round(p, 6).tolist()))
    answer_t = 1.0
    for t in candidates:
        taken = usable & (p >= t)
        if taken.sum() >= MIN_ANSWERED and y[taken].mean() >= PRECISION_TARGET:
            answer_t = t
            break
    uncertain_t = 0.0
    for t in candidates:
        if t > answer_t:
            break
        lost = answerable & (~usable | (p < t))
        if lost.sum() / max(answerable.sum(), 1) <= NOT_FOUND_BUDGET:
            uncertain_t = t
    return float(answer_t), float(uncertain_t)


def training_sets(held: str, names: list[str]) -> list[str]:
    return [n for n in names if n != held and n != TWINS.get(held)]


def out_of_fold(by_set: dict[str, list[Record]], names: list[str],
                features: tuple[str, ...] = FEATURES) -> tuple[list[Record], np.ndarray]:
    """Leave-one-set-out estimates for every record of ``names``."""
    records, p = [], []
    for held in names:
        train = [r for n in training_sets(held, names) for r in by_set[n]]
        model = fit(train, c=C, names=features)
        records += by_set[held]
        p += estimates(model, by_set[held]).tolist()
    return records, np.array(p)


def fit_for(by_set: dict[str, list[Record]], names: list[str], *, floor: float,
            features: tuple[str, ...] = FEATURES) -> Confidence:
    """A model fitted on ``names`` with thresholds chosen on their leave-one-set-out estimates."""
    records, p = out_of_fold(by_set, names, features)
    answer_t, uncertain_t = choose_thresholds(records, p, floor=floor)
    model = fit([r for n in names for r in by_set[n]], c=C, names=features)
    return Confidence(model.features, model.means, model.scales, model.weights, model.intercept, answer_t, uncertain_t)


def score(model: Confidence, records: list[Record], *, floor: float) -> dict[str, float]:
    p = estimates(model, records)
    return verdict_metrics(records, p, verdicts(model, records, p, floor=floor))


def table(rows: dict[str, dict[str, float]], counts: dict[str, tuple[int, int]]) -> str:
    lines = ["| held-out set | answerable / unanswerable | " + " | ".join(VERDICT_METRICS) + " |",
             "|---|---|" + "---|" * len(VERDICT_METRICS)]
    for name, m in rows.items():
        lines.append(f"| {name} | {counts[name][0]} / {counts[name][1]} | "
                     + " | ".join(f"{m[k]:.3f}" for k in VERDICT_METRICS) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reuse", action="store_true", help=f"read features from {FEATURE_CACHE.name}")
    parser.add_argument("--holdout", type=Path, help="score this set with the committed model (no fitting)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    from crps_qa.answer.second_opinion import MPNET, second_opinion_for
    from crps_qa.errors import CrpsQaError
    from crps_qa.pipeline import Pipeline
    from crps_qa.settings import Settings

    settings = Settings()
    floor = settings.refusal_threshold
    if args.holdout:
        pipeline = Pipeline.open(settings)
        records = collect(pipeline.ask, load_questions(args.holdout), set_name=args.holdout.stem)
        counts = {args.holdout.stem: (sum(r.answerable for r in records), sum(not r.answerable for r in records))}
        print(table({args.holdout.stem: verdict_metrics(records)}, counts))
        print(json.dumps([r.to_dict() for r in records if r.verdict == ANSWERED and not r.right], indent=None)[:4000])
        return
    if args.reuse:
        by_set: dict[str, list[Record]] = {n: [] for n in SETS}
        for line in FEATURE_CACHE.read_text(encoding="utf-8").splitlines():
            r = json.loads(line)
            by_set[r["set"]].append(Record(**r))
    else:
        pipeline = Pipeline.open(settings)
        try:  # record the second opinion's features too (the verdicts stay the committed model's)
            pipeline.parts.answerer.second = second_opinion_for(settings.model_copy(update={"second_opinion": MPNET}))
        except CrpsQaError as exc:
            print(f"without the second opinion: {exc}", file=sys.stderr)
        by_set = {n: collect(pipeline.ask, load_questions(HERE / f), set_name=n) for n, f in SETS.items()}
        FEATURE_CACHE.write_text("".join(json.dumps(r.to_dict()) + "\n" for rs in by_set.values() for r in rs),
                                 encoding="utf-8")
    names = list(SETS)
    counts = {n: (sum(r.answerable for r in by_set[n]), sum(not r.answerable for r in by_set[n])) for n in names}
    pooled_name = "all (pooled, each set held out)"
    before = {n: verdict_metrics(by_set[n]) for n in names}
    print("Before (the estimate and verdicts the pipeline gave while collecting):")
    print(table(before, counts))
    has_second = all(k in r.features for rs in by_set.values() for r in rs for k in SECOND_FEATURES)
    finals = {}
    for variant, features in VARIANTS.items():
        if not has_second and set(SECOND_FEATURES) & set(features):
            continue
        rows = {held: score(fit_for(by_set, training_sets(held, names), floor=floor, features=features),
                            by_set[held], floor=floor) for held in names}
        pooled, p = out_of_fold(by_set, names, features)
        final = finals[variant] = fit_for(by_set, names, floor=floor, features=features)
        rows[pooled_name] = verdict_metrics(pooled, p, verdicts(final, pooled, p, floor=floor))
        counts[pooled_name] = (sum(r.answerable for r in pooled), sum(not r.answerable for r in pooled))
        print(f"\nEach set held out in turn, features: {variant} ({len(features)}):")
        print(table(rows, counts))
        print("weights (standardised):",
              json.dumps({k: round(v, 3) for k, v in zip(features, final.weights, strict=True)}))
        print(f"thresholds: answered >= {final.answer_threshold:.3f}, not_found < {final.uncertain_threshold:.3f}")
        print("pooled risk-coverage (precision of answering the most confident):",
              ", ".join(f"{x['precision']:.3f} at {x['coverage']:.2f}"
                        for x in risk_coverage(pooled, p, (0.3, 0.4, 0.5))))
    for variant, path in (("without mpnet", COEFFICIENTS), ("with mpnet", COEFFICIENTS_SECOND)):
        if variant in finals:
            write(finals[variant], path)


def write(final: Confidence, path: Path) -> None:
    path.write_text(json.dumps({
        "note": "fitted by eval/fit_confidence.py on eval, probe, holdout, holdout2, typos, holdout3 and holdout4 "
                "(see eval/TUNING.md)",
        "features": list(final.features), "means": list(final.means), "scales": list(final.scales),
        "weights": list(final.weights), "intercept": final.intercept, "answer_threshold": final.answer_threshold,
        "uncertain_threshold": final.uncertain_threshold,
    }, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
