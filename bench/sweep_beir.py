"""Sweep hybrid settings on a BEIR data set, re-using cached document and sentence vectors.

    python bench/sweep_beir.py ../shared/bench/scifact --cache /tmp/beir/scifact-minilm.npy

Prints one Markdown row per setting (nDCG@10, Recall@100, MRR@10): BM25 and dense alone, then
hybrid over a fixed grid of fusion (convex 0.5, RRF k=60) x sentence_weight (0, 0.5, 1, 1.5) x
rescore_depth (30, 100) — 18 runs of the test queries, a few minutes in all. Everything else is
Settings() as it stands. The first run encodes the corpus and its sentences and caches them
beside --cache (``<stem>-sentences.npy``); see eval/TUNING.md ("BEIR SciFact") for results.
"""

from __future__ import annotations

import argparse
import itertools
import os
import warnings
from pathlib import Path

from ranx import Qrels, Run, evaluate

from crps_qa.evaluate.beir import BEIR_METRICS, build_beir_index, load_beir, rank_claims
from crps_qa.index.embed import load_embedder
from crps_qa.query.analyzer import QueryAnalyzer
from crps_qa.search.retrieve import Retriever
from crps_qa.settings import Settings

FUSIONS = {"convex 0.5": {"fusion": "convex", "dense_weight": 0.5}, "rrf 60": {"fusion": "rrf", "rrf_k": 60}}
SENTENCE_WEIGHTS = (0.0, 0.5, 1.0, 1.5)
RESCORE_DEPTHS = (30, 100)


def score(retriever: Retriever, queries, vectors, qrels, mode: str) -> dict[str, float]:
    analyzer = QueryAnalyzer(retriever.data, retriever.matcher.encoder, retriever.settings)
    run, _ = rank_claims(analyzer, retriever, dict(zip(queries, vectors, strict=True)), queries, mode)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return evaluate(Qrels(qrels), Run(run), list(BEIR_METRICS), make_comparable=True)


def row(label: str, m: dict[str, float]) -> str:
    return f"| {label} | {m['ndcg@10']:.4f} | {m['recall@100']:.4f} | {m['mrr@10']:.4f} |"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("beir_dir", type=Path)
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=1, help="Torch threads (1 is kind to a shared machine).")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    torch.set_num_threads(args.threads)
    corpus, queries, qrels = load_beir(args.beir_dir)
    embedder = load_embedder("all-MiniLM-L6-v2")
    data, doc_s, sentence_s = build_beir_index(corpus, embedder, batch_size=32, cache=args.cache)
    print(f"{len(corpus)} documents, {len(data.sentences)} sentences, {len(queries)} queries; "
          f"encode/load {doc_s:.0f} s documents + {sentence_s:.0f} s sentences")
    vectors = embedder.encode(list(queries.values()))
    defaults = Settings()
    print(f"defaults: fusion {defaults.fusion}, dense_weight {defaults.dense_weight}, sentence_weight "
          f"{defaults.sentence_weight}, rescore_depth {defaults.rescore_depth}\n")
    print("| setting | nDCG@10 | Recall@100 | MRR@10 |\n|---|---|---|---|")
    for mode in ("bm25", "dense"):
        print(row(f"{mode} only", score(Retriever(data, embedder, defaults), queries, vectors, qrels, mode)))
    for (name, fusion), weight, depth in itertools.product(FUSIONS.items(), SENTENCE_WEIGHTS, RESCORE_DEPTHS):
        if weight == 0 and depth != RESCORE_DEPTHS[0]:
            continue  # weight 0 turns re-scoring off: the depth does not matter
        settings = Settings(**fusion, sentence_weight=weight, rescore_depth=depth)
        m = score(Retriever(data, embedder, settings), queries, vectors, qrels, "hybrid")
        label = f"hybrid {name}, sentence_weight {weight}" + (f", depth {depth}" if weight else " (no re-scoring)")
        print(row(label, m), flush=True)


if __name__ == "__main__":
    main()
