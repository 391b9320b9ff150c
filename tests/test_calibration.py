"""Calibration and verdict metrics (evaluate/calibration.py) and the verdict rule (answer/verdict.py),
on hand-made records whose expected values are written as arithmetic."""

import json

import numpy as np
import pytest

from crps_qa.answer.verdict import COEFFICIENTS, FEATURES, Confidence
from crps_qa.evaluate.calibration import Record, ece, fit, risk_coverage, verdict_metrics


def rec(i, answerable, right, estimate, verdict, evidence=0.6):
    return Record(f"q{i}", "s", answerable, right, estimate, verdict, {"evidence": evidence, "match": estimate})


RECORDS = [
    rec(1, True, True, 0.9, "answered"),
    rec(2, True, True, 0.8, "answered"),
    rec(3, True, False, 0.7, "answered"),
    rec(4, True, False, 0.3, "uncertain"),
    rec(5, True, True, 0.2, "not_found"),
    rec(6, False, False, 0.6, "answered"),
    rec(7, False, False, 0.1, "not_found"),
    rec(8, False, False, 0.4, "uncertain"),
]


def test_verdict_metrics_by_hand():
    m = verdict_metrics(RECORDS)
    assert m["answered_precision"] == pytest.approx(2 / 4)  # q1, q2 right of q1, q2, q3, q6
    assert m["coverage"] == pytest.approx(3 / 5)  # q1-q3 of the five answerable
    assert m["unanswerable_held"] == pytest.approx(2 / 3)  # q7, q8 of q6-q8
    assert m["answerable_not_found"] == pytest.approx(1 / 5)  # q5
    # right = q1, q2, q5; pairs (right, wrong) ranked correctly: q1 and q2 beat all 5 wrong, q5 (0.2) beats q7 only
    assert m["auroc"] == pytest.approx((5 + 5 + 1) / (3 * 5))


def test_ece_is_the_weighted_gap_per_bin():
    p = np.array([0.05, 0.05, 0.95, 0.95])
    y = np.array([0, 1, 1, 1])
    # bin 0: mean 0.05, accuracy 0.5 → gap 0.45, weight 1/2; bin 9: mean 0.95, accuracy 1 → gap 0.05, weight 1/2
    assert ece(p, y) == pytest.approx(0.5 * 0.45 + 0.5 * 0.05)
    assert ece(np.array([0.3, 0.3]), np.array([0, 1])) == pytest.approx(0.2)


def test_risk_coverage_answers_the_most_confident_first():
    rows = risk_coverage(RECORDS, levels=(0.2, 0.6, 1.0))
    # answerable estimates 0.9, 0.8, 0.7, 0.3, 0.2: 20% coverage → threshold 0.9 (q1 only, right)
    assert rows[0] == {"coverage": 0.2, "threshold": 0.9, "precision": 1.0, "answered": 1}
    # 60% → threshold 0.7: q1, q2, q3 and the unanswerable q6 (0.6 < 0.7 is not taken) → 2 of 3 right
    assert rows[1]["threshold"] == 0.7 and rows[1]["precision"] == pytest.approx(2 / 3)
    # 100% → threshold 0.2: all but q7 (0.1) → q1, q2, q5 right of 7
    assert rows[2]["answered"] == 7 and rows[2]["precision"] == pytest.approx(3 / 7)


@pytest.mark.parametrize(("estimate", "evidence", "missing", "expected"), [
    (0.9, 0.6, (), "answered"),
    (0.5, 0.6, (), "uncertain"),
    (0.1, 0.6, (), "not_found"),
    (0.9, 0.3, (), "not_found"),  # below the refusal floor
    (0.9, 0.6, ("lidocaine",), "not_found"),  # names something no paper mentions
])
def test_verdict_rule(estimate, evidence, missing, expected):
    model = Confidence(("match",), (0.0,), (1.0,), (1.0,), 0.0, answer_threshold=0.8, uncertain_threshold=0.2)
    assert model.verdict(estimate, evidence=evidence, floor=0.43, missing=missing) == expected


def test_estimate_is_the_logistic_of_standardised_features():
    model = Confidence(("match", "rank"), (0.5, 0.0), (0.25, 1.0), (2.0, 1.0), -1.0, 0.8, 0.2)
    z = -1.0 + 2.0 * (0.75 - 0.5) / 0.25 + 1.0 * 1.0
    assert model.estimate({"match": 0.75, "rank": 1.0}) == pytest.approx(1 / (1 + np.exp(-z)))


def test_fit_ranks_by_the_informative_feature():
    records = [rec(i, True, m > 0.5, m, "answered") for i, m in enumerate(np.linspace(0, 1, 40))]
    model = fit(records)
    assert model.estimate({"match": 0.9, "evidence": 0.6}) > 0.5 > model.estimate({"match": 0.1, "evidence": 0.6})


def test_the_committed_model_is_complete_and_its_thresholds_ordered():
    raw = json.loads(COEFFICIENTS.read_text(encoding="utf-8"))
    model = Confidence.load()
    assert list(model.features) == list(FEATURES) == raw["features"]
    assert 0.0 <= model.uncertain_threshold <= model.answer_threshold <= 1.0
