"""The dense index adapts to its size: exact below the threshold, HNSW tuned to recall@10 >= 0.98
above it; row filters work for both; a loaded index is memory-mapped."""

import faiss
import numpy as np
import pytest

from crps_qa.index import ann
from crps_qa.index.build import build
from crps_qa.index.store import load_index, make_dense


def clustered(n: int, dimension: int = 32, seed: int = 0) -> np.ndarray:
    """Unit vectors around 20 random centres (some structure, as real embeddings have)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((20, dimension))
    vectors = centres[rng.integers(0, 20, n)] + 0.5 * rng.standard_normal((n, dimension))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def test_below_the_threshold_the_index_is_exact():
    index, report = ann.build_dense(clustered(99), exact_below=100)
    assert isinstance(index, faiss.IndexFlatIP) and index.ntotal == 99
    assert (report.index_type, report.recall_at_10, report.params) == ("flat", 1.0, {})


def test_from_the_threshold_on_it_is_hnsw_with_the_recall_measured_on_held_out_queries():
    vectors = clustered(3000)
    index, report = ann.build_dense(vectors, exact_below=100)
    assert isinstance(index, faiss.IndexHNSWFlat) and index.ntotal == 3000
    assert report.index_type == "hnsw" and report.held_out_queries == ann.PROBE_QUERIES
    assert report.tuning_recall_at_10 >= 0.985 and report.recall_at_10 >= 0.98
    assert index.hnsw.efSearch == report.params["ef_search"] in ann.EF_SEARCH
    # the recorded figure is what an independent set of queries sees, give or take sampling
    queries = ann.probe_queries(vectors, 300, seed=7)
    found = ann.search(index, queries, 10)[1]
    assert ann.recall_at(found, ann.exact_top(vectors, queries, 10)) >= 0.97


def test_recall_counts_the_share_of_the_exact_top_k_found():
    found = np.array([[1, 2, 3, 4], [5, 6, -1, -1]])
    exact = np.array([[1, 2, 3, 9], [5, 7, 8, 6]])
    assert ann.recall_at(found, exact) == pytest.approx((3 / 4 + 2 / 4) / 2)


@pytest.mark.parametrize("exact_below", [10**9, 100])
def test_a_row_filter_returns_the_exact_best_of_those_rows_only(exact_below):
    vectors = clustered(1000)
    index = make_dense(vectors, exact_below=exact_below)
    rows = np.array([3, 50, 400, 401, 999])
    query = vectors[400] + 0.1 * vectors[3]
    scores, ids = ann.search(index, query, 3, rows)
    expected = rows[np.argsort(-(vectors[rows] @ query), kind="stable")[:3]]
    assert ids[0].tolist() == expected.tolist()
    assert scores[0] == pytest.approx(np.sort(vectors[rows] @ query)[::-1][:3], abs=1e-5)


def test_a_large_row_filter_on_hnsw_uses_the_selector_and_keeps_ef_search(monkeypatch):
    vectors = clustered(1000)
    index = make_dense(vectors, exact_below=100)
    monkeypatch.setattr(ann, "EXACT_SUBSET", 10)
    rows = np.arange(0, 1000, 2)
    params = ann._selector_params(index, rows)
    assert isinstance(params, faiss.SearchParametersHNSW) and params.efSearch == index.hnsw.efSearch
    ids = ann.search(index, vectors[:5], 10, rows)[1]
    assert set(ids[ids >= 0].tolist()) <= set(rows.tolist())
    assert ids[0, 0] == 0 and ids[2, 0] == 2  # an indexed even row finds itself


def test_a_built_index_switches_type_records_recall_and_loads_memory_mapped(tiny_settings, fake_embedder):
    settings = tiny_settings.model_copy(update={"exact_search_below": 2})
    report = build(settings, fake_embedder)
    data = load_index(settings.index_dir)
    dense = data.manifest["dense"]
    assert dense["index_type"] == "hnsw" and dense["vectors"] == report.passages
    assert dense["recall_at_10"] >= 0.98  # a handful of vectors: efSearch covers them all
    assert isinstance(data.dense, faiss.IndexHNSWFlat) and data.dense.hnsw.efSearch == dense["params"]["ef_search"]
    assert isinstance(data.vectors, np.memmap) and isinstance(data.sentences.vectors, np.memmap)
    assert data.vectors.shape == (report.passages, 64)
    assert ann.search(data.dense, data.vectors[1], 1)[1][0, 0] == 1


def test_a_changed_threshold_makes_the_index_stale_and_the_rebuild_reuses_every_vector(tiny_settings, fake_embedder):
    from crps_qa.index.build import is_stale

    build(tiny_settings.model_copy(update={"exact_search_below": 2}), fake_embedder)
    assert is_stale(tiny_settings) == "exact_search_below changed"
    report = build(tiny_settings, fake_embedder)
    assert report.embedded == 0 and load_index(tiny_settings.index_dir).manifest["dense"]["index_type"] == "flat"
    assert is_stale(tiny_settings) is None


def test_from_ivf_from_on_it_is_ivf_with_nprobe_tuned_and_filters_kept(monkeypatch):
    monkeypatch.setattr(ann, "IVF_FROM", 2000)
    vectors = clustered(3000)
    index, report = ann.build_dense(vectors, exact_below=100)
    assert isinstance(index, faiss.IndexIVFFlat) and report.index_type == "ivf"
    assert report.params == {"nlist": 64, "nprobe": index.nprobe}  # 2 ** round(log2(sqrt(3000))) = 64
    assert report.tuning_recall_at_10 >= 0.985 and report.recall_at_10 >= 0.98
    rows = np.array([7, 8, 2999])
    assert ann.search(index, vectors[8], 1, rows)[1][0, 0] == 8
    assert isinstance(ann._selector_params(index, rows), faiss.SearchParametersIVF)
