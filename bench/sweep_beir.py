"""Sweep hybrid-fusion settings on a BEIR data set, re-using cached document vectors.

    python bench/sweep_beir.py ../shared/bench/scifact --cache /tmp/beir/scifact-minilm.npy

Prints one Markdown row per setting (nDCG@10, Recall@100). Used to choose the defaults recorded
in eval/TUNING.md; the first run encodes the corpus (about 4 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

from ranx import Qrels, Run, evaluate

from crps_qa.beir import build_beir_index, load_beir
from crps_qa.embed import load_embedder
from crps_qa.fusion import ranked
from crps_qa.retrieve import Retriever
from crps_qa.settings import Settings


def score(retriever: Retriever, queries, vectors, qrels, mode: str) -> dict[str, float]:
    run = {}
    for (qid, text), vector in zip(queries.items(), vectors, strict=True):
        scores = retriever.run(text, mode=mode, n=100, vector=vector)
        run[qid] = {retriever.data.passages[r].chunk_id: scores[r] for r in ranked(scores)[:100]} or {"x": 0.0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return evaluate(Qrels(qrels), Run(run), ["ndcg@10", "recall@100"], make_comparable=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("beir_dir", type=Path)
    parser.add_argument("--cache", type=Path, required=True)
    args = parser.parse_args()
    corpus, queries, qrels = load_beir(args.beir_dir)
    embedder = load_embedder("all-MiniLM-L6-v2")
    data, _ = build_beir_index(corpus, embedder, batch_size=32, cache=args.cache)
    vectors = embedder.encode(list(queries.values()))
    print("| fusion | dense_weight / rrf_k | nDCG@10 | Recall@100 |\n|---|---|---|---|")
    for mode in ("bm25", "dense"):
        m = score(Retriever(data, embedder, Settings()), queries, vectors, qrels, mode)
        print(f"| {mode} only | - | {m['ndcg@10']:.4f} | {m['recall@100']:.4f} |")
    for k in (10, 30, 60, 100):
        m = score(Retriever(data, embedder, Settings(fusion="rrf", rrf_k=k)), queries, vectors, qrels, "hybrid")
        print(f"| rrf | {k} | {m['ndcg@10']:.4f} | {m['recall@100']:.4f} |")
    for w in (0.3, 0.4, 0.5, 0.6, 0.7):
        m = score(Retriever(data, embedder, Settings(fusion="convex", dense_weight=w)), queries, vectors, qrels, "hybrid")
        print(f"| convex | {w} | {m['ndcg@10']:.4f} | {m['recall@100']:.4f} |")


if __name__ == "__main__":
    main()
