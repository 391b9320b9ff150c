"""The dense vector index, sized to the corpus: exact below a threshold, HNSW or IVF above it.

    dense, report = build_dense(vectors, exact_below=50_000)     # report.to_dict() goes in the manifest
    scores, ids = search(dense, query_vectors, k)                 # rows=...: only among those passages
    dense = read_dense(path)                                      # memory-mapped where FAISS can

Below ``exact_below`` vectors an exact ``IndexFlatIP`` costs little (about 4 ms a query at 50k on
one thread here) and never misses. Above it, an ``IndexHNSWFlat`` whose ``efSearch`` is the
smallest that reaches ``target_recall`` (recall@10 against exact search) on one set of queries;
the recall recorded in the manifest is then measured on a second, held-out set. From
``IVF_FROM`` vectors on, an ``IndexIVFFlat`` (about sqrt(n) lists) with ``nprobe`` tuned the same
way: its build stays a few minutes where HNSW's grows faster than linearly, but at the same
recall its queries cost far more (bench/RESULTS.md: 20 ms CPU at 300k with nprobe 256 of 512
lists, against 0.3 ms for HNSW at 100k), and HNSW's build is small next to embedding the passages
(hours at 1M on this machine), so HNSW serves up to 2M vectors. Queries are
indexed vectors pushed away by noise (cosine about 0.7 to their source, like a question to its
passage), so they are neither in the index nor in each other's sets.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import faiss
import numpy as np

log = logging.getLogger(__name__)

HNSW_M = 32  # links per node: 32 keeps recall high at 384 dimensions for about 256 bytes a vector
EF_CONSTRUCTION = 128  # 64 reached recall@10 0.97 at 1M synthetic vectors with efSearch 1024 (RESULTS.md)
EF_SEARCH = (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 1024)  # tried in order, smallest first
NPROBE = (1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 512, 1024)
IVF_FROM = 2_000_000
MARGIN = 0.005  # tuned above the target by about 1.5 standard errors of a 200-query recall@10
PROBE_QUERIES = 200  # per set (tuning, held out)
EXACT_SUBSET = 50_000  # a row filter of at most this many rows is searched exactly


@dataclass(frozen=True)
class DenseReport:
    """How the dense index was built, for the manifest."""

    index_type: str  # "flat" (exact), "hnsw" or "ivf"
    vectors: int
    exact_below: int
    seconds: float
    params: dict[str, int] = field(default_factory=dict)  # hnsw: m, ef_construction, ef_search; ivf: nlist, nprobe
    recall_at_10: float = 1.0  # against exact search, on held-out queries (1.0 for exact)
    tuning_recall_at_10: float = 1.0  # on the queries that chose ef_search
    held_out_queries: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def build_dense(
    vectors: np.ndarray, *, exact_below: int, target_recall: float = 0.98, seed: int = 0
) -> tuple[faiss.Index, DenseReport]:
    """An index over the unit rows of ``vectors`` (row i is id i) and how it was built."""
    started = time.perf_counter()
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    n, dimension = vectors.shape
    if n < exact_below:
        index = faiss.IndexFlatIP(dimension)
        if n:
            index.add(vectors)
        return index, DenseReport("flat", n, exact_below, time.perf_counter() - started)
    kind = "ivf" if n >= IVF_FROM else "hnsw"
    index = _ivf(vectors, seed) if kind == "ivf" else _hnsw(vectors)
    tuning, held_out = probe_queries(vectors, 2 * PROBE_QUERIES, seed=seed).reshape(2, -1, dimension)
    k = min(10, n)  # a tiny index (a forced threshold in tests) has fewer than 10 rows
    exact_tuning, exact_held_out = (exact_top(vectors, q, k) for q in (tuning, held_out))
    value, tuning_recall = 0, 0.0
    for value in NPROBE if kind == "ivf" else EF_SEARCH:
        _set_breadth(index, value)
        tuning_recall = recall_at(index.search(tuning, k)[1], exact_tuning)
        if tuning_recall >= target_recall + MARGIN:
            break
    held_out_recall = recall_at(index.search(held_out, k)[1], exact_held_out)
    if held_out_recall < target_recall:
        log.warning("%s recall@10 %.3f on held-out queries is below the target %.2f (search breadth %d)",
                    kind, held_out_recall, target_recall, value)
    params = ({"nlist": index.nlist, "nprobe": int(value)} if kind == "ivf"
              else {"m": HNSW_M, "ef_construction": EF_CONSTRUCTION, "ef_search": int(value)})
    return index, DenseReport(kind, n, exact_below, time.perf_counter() - started, params,
                              round(held_out_recall, 4), round(tuning_recall, 4), len(held_out))


def _hnsw(vectors: np.ndarray) -> faiss.Index:
    index = faiss.IndexHNSWFlat(vectors.shape[1], HNSW_M, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = EF_CONSTRUCTION
    index.add(vectors)
    return index


def _ivf(vectors: np.ndarray, seed: int) -> faiss.Index:
    """About sqrt(n) lists (a power of two: 1,024 at 1M), k-means on 64 vectors a list, 10 rounds."""
    n, dimension = vectors.shape
    nlist = 1 << max(4, int(round(np.log2(np.sqrt(n)))))
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dimension), dimension, nlist, faiss.METRIC_INNER_PRODUCT)
    index.cp.niter, index.cp.max_points_per_centroid, index.cp.seed = 10, 64, seed
    sample = np.random.default_rng(seed).choice(n, size=min(n, 64 * nlist), replace=False)
    index.train(vectors[np.sort(sample)])
    index.add(vectors)
    index.make_direct_map()  # reconstruct(): filtered search over a few rows, vectors of old builds
    return index


def _set_breadth(index: faiss.Index, value: int) -> None:
    if isinstance(index, faiss.IndexIVF):
        index.nprobe = value
    else:
        index.hnsw.efSearch = value


def probe_queries(vectors: np.ndarray, count: int, *, seed: int = 0) -> np.ndarray:
    """``count`` unit vectors near random indexed rows: each row plus noise of the same length,
    so cosine to its source is about 0.7."""
    rng = np.random.default_rng(seed)
    source = vectors[rng.integers(0, len(vectors), count)]
    noise = rng.standard_normal(source.shape).astype(np.float32)
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    queries = source + noise
    return (queries / np.linalg.norm(queries, axis=1, keepdims=True)).astype(np.float32)


def exact_top(vectors: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Ids of the exact top ``k`` rows by inner product (no copy of ``vectors``)."""
    return faiss.knn(queries, vectors, k, metric=faiss.METRIC_INNER_PRODUCT)[1]


def recall_at(found: np.ndarray, exact: np.ndarray) -> float:
    """Mean share of each query's exact top k found in its approximate top k (both (queries, k))."""
    return float(np.mean([len(set(a[a >= 0]) & set(b)) / len(b) for a, b in zip(found, exact, strict=True)]))


def search(
    index: faiss.Index, queries: np.ndarray, k: int, rows: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(scores, ids) of the top ``k`` rows for each query, as ``faiss.Index.search`` (-1 ids pad).

    ``rows``: only among these ids. A filter of up to ``EXACT_SUBSET`` rows is searched exactly
    over those rows' vectors (a graph walk that must skip most nodes loses recall); a larger one
    with FAISS's id selector, keeping the index's own efSearch / nprobe."""
    queries = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, index.d)
    if rows is None:
        return index.search(queries, k)
    rows = np.asarray(rows, dtype=np.int64)
    if isinstance(index, faiss.IndexFlat) or len(rows) > EXACT_SUBSET:
        return index.search(queries, k, params=_selector_params(index, rows))
    scores = queries @ index.reconstruct_batch(rows).T  # (queries, rows)
    k = min(k, len(rows))
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(scores, top, axis=1), rows[top]


def _selector_params(index: faiss.Index, rows: np.ndarray) -> faiss.SearchParameters:
    selector = faiss.IDSelectorBatch(rows)
    if isinstance(index, faiss.IndexHNSW):
        return faiss.SearchParametersHNSW(sel=selector, efSearch=index.hnsw.efSearch)
    if isinstance(index, faiss.IndexIVF):
        return faiss.SearchParametersIVF(sel=selector, nprobe=index.nprobe)
    return faiss.SearchParameters(sel=selector)


def write_dense(index: faiss.Index, path: Path) -> None:
    faiss.write_index(index, str(path))


def read_dense(path: Path, *, mmap: bool = True, index_type: str | None = None) -> faiss.Index:
    """The index at ``path``; its vectors memory-mapped (pages read on first touch, shared with
    the page cache) unless ``mmap`` is False. efSearch / nprobe are stored in the file.
    ``index_type`` (the manifest's): an exact or HNSW index maps its flat vector storage
    (IO_FLAG_MMAP_IFC: 1.5 GB at 1M vectors that would otherwise be read into memory), an IVF
    index its inverted lists (IO_FLAG_MMAP; FAISS refuses the two flags together for IVF)."""
    if not mmap:
        return faiss.read_index(str(path), 0)
    return faiss.read_index(str(path), faiss.IO_FLAG_MMAP if index_type in (None, "ivf") else faiss.IO_FLAG_MMAP_IFC)


def read_vectors(path: Path, index: faiss.Index) -> np.ndarray:
    """The indexed vectors from ``path`` (.npy), memory-mapped; read back from ``index`` for a
    build written before they had their own file. ValueError when they do not fit the index."""
    if not path.exists():
        return index.reconstruct_n(0, index.ntotal) if index.ntotal else np.zeros((0, index.d), np.float32)
    vectors = np.load(path, mmap_mode="r")
    if vectors.shape != (index.ntotal, index.d):
        raise ValueError(f"{path.name} holds {vectors.shape} vectors, the index {index.ntotal} x {index.d}")
    return vectors
