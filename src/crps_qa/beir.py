"""Run crps-qa's retrieval on a BEIR-format data set (corpus.jsonl, queries.jsonl, qrels/test.tsv).

Each BEIR document is one unit (title + text, no chunking), as in the published baselines.

    result = run_beir(Path("../shared/bench/scifact"), settings, embedder, modes=["hybrid"])
    result.metrics["hybrid"]["ndcg@10"]
"""

from __future__ import annotations

import csv
import json
import logging
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from crps_qa.embed import Embedder
from crps_qa.errors import ConfigError
from crps_qa.fusion import ranked
from crps_qa.index import IndexData, make_dense
from crps_qa.lexical import Bm25Index
from crps_qa.retrieve import Retriever
from crps_qa.settings import Settings
from crps_qa.types import DocumentInfo, Passage

log = logging.getLogger(__name__)
BEIR_METRICS = ("ndcg@10", "recall@100", "mrr@10")


@dataclass(frozen=True)
class BeirResult:
    dataset: str
    documents: int
    queries: int
    metrics: dict[str, dict[str, float]]
    encode_seconds: float
    query_ms_median: dict[str, float]


def _read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def load_beir(directory: Path, split: str = "test") -> tuple[list[dict], dict[str, str], dict[str, dict[str, int]]]:
    """Corpus records, queries by id (only those judged in ``split``) and qrels."""
    needed = [directory / "corpus.jsonl", directory / "queries.jsonl", directory / "qrels" / f"{split}.tsv"]
    missing = [str(p) for p in needed if not p.exists()]
    if missing:
        raise ConfigError(f"{directory} is not a BEIR folder: missing {', '.join(missing)}.")
    qrels: dict[str, dict[str, int]] = {}
    with open(needed[2], encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            if int(row["score"]) > 0:
                qrels.setdefault(row["query-id"], {})[row["corpus-id"]] = int(row["score"])
    queries = {q["_id"]: q["text"] for q in _read_jsonl(needed[1]) if q["_id"] in qrels}
    return _read_jsonl(needed[0]), queries, qrels


def build_beir_index(corpus: Sequence[dict], embedder: Embedder, *, batch_size: int, cache: Path | None) -> tuple[IndexData, float]:
    """One passage per document; vectors cached in ``cache`` (a .npy file) when given."""
    texts = [f"{d.get('title', '')}. {d['text']}".strip(". ") for d in corpus]
    started = time.perf_counter()
    if cache is not None and cache.exists():
        vectors = np.load(cache)
        if vectors.shape != (len(texts), embedder.dimension):
            raise ConfigError(f"Vector cache {cache} does not fit this corpus/model; delete it.")
    else:
        vectors = embedder.encode(texts, batch_size=batch_size, progress=True)
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            np.save(cache, vectors)
    seconds = time.perf_counter() - started
    passages = [
        Passage(chunk_id=d["_id"], doc_id=d["_id"], text=text, char_start=0, char_end=len(text))
        for d, text in zip(corpus, texts, strict=True)
    ]
    docs = {d["_id"]: DocumentInfo(doc_id=d["_id"], title=d.get("title", ""), path="") for d in corpus}
    manifest = {"build_id": "beir", "model": embedder.name, "counts": {"passages": len(passages)}}
    data = IndexData(manifest, docs, {}, passages, vectors, make_dense(vectors), Bm25Index.build(texts))
    return data, seconds


def run_beir(
    directory: Path, settings: Settings, embedder: Embedder, *, modes: Sequence[str], cache: Path | None = None
) -> BeirResult:
    from ranx import Qrels, Run, evaluate

    corpus, queries, qrels = load_beir(directory)
    data, encode_seconds = build_beir_index(corpus, embedder, batch_size=settings.batch_size, cache=cache)
    retriever = Retriever(data, embedder, settings)
    ids = list(queries)
    vectors = embedder.encode([queries[i] for i in ids], batch_size=settings.batch_size)
    metrics, latency = {}, {}
    for mode in modes:
        run, times = {}, []
        for qid, vector in zip(ids, vectors, strict=True):
            started = time.perf_counter()
            scores = retriever.run(queries[qid], mode=mode, n=100, vector=vector)
            times.append(time.perf_counter() - started)
            run[qid] = {data.passages[r].chunk_id: scores[r] for r in ranked(scores)[:100]} or {"<none>": 0.0}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = evaluate(Qrels(qrels), Run(run), list(BEIR_METRICS), make_comparable=True)
        metrics[mode] = {name: float(result[name]) for name in BEIR_METRICS}
        latency[mode] = float(np.median(times) * 1000)
    return BeirResult(directory.name, len(corpus), len(ids), metrics, encode_seconds, latency)
