import pytest

from crps_qa.search.fusion import convex, minmax, ranked, rrf

DENSE = {"a": 0.9, "b": 0.5}
BM25 = {"b": 12.0, "c": 4.0}


def test_rrf_sums_reciprocal_ranks():
    fused = rrf([DENSE, BM25], k=60)
    assert fused["a"] == pytest.approx(1 / (60 + 1))
    assert fused["b"] == pytest.approx(1 / (60 + 2) + 1 / (60 + 1))
    assert fused["c"] == pytest.approx(1 / (60 + 2))
    assert ranked(fused) == ["b", "a", "c"]


def test_minmax_scales_to_unit_interval():
    assert minmax({"x": 2.0, "y": 4.0, "z": 3.0}) == {"x": 0.0, "y": 1.0, "z": 0.5}
    assert minmax({"x": 7.0}) == {"x": 1.0}
    assert minmax({}) == {}


def test_convex_weights_normalised_scores():
    fused = convex([DENSE, BM25], weights=[0.7, 0.3])
    assert fused["a"] == pytest.approx(0.7 * 1.0)
    assert fused["b"] == pytest.approx(0.7 * 0.0 + 0.3 * 1.0)
    assert fused["c"] == pytest.approx(0.3 * 0.0)


def test_convex_needs_one_weight_per_run():
    with pytest.raises(ValueError, match="one weight per run"):
        convex([DENSE, BM25], weights=[1.0])


def test_ranked_breaks_ties_by_id():
    assert ranked({"b": 1.0, "a": 1.0, "c": 2.0}) == ["c", "a", "b"]
