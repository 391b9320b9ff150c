"""Sweep chunking and fusion settings on the project's own eval set (eval/questions.jsonl).

    python bench/sweep_corpus.py                         # default grid, dev and test splits
    python bench/sweep_corpus.py --words 80,120 --overlap 1 --fusion rrf:60,convex:0.5

For every chunking (max words x overlap sentences) the real corpus is indexed with the real model
into a temporary folder; every fusion setting is then scored on the same index. Prints one
Markdown row per setting with answer recall (hit_rate@5, @10), MRR@10 and nDCG@10 from ranx, on
the dev split (used to choose) and the test split (reported). The table behind the defaults is
kept in eval/TUNING.md.
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
from pathlib import Path

from crps_qa.embed import load_embedder
from crps_qa.evaluate import evaluate_retrieval, load_questions
from crps_qa.index import load_index
from crps_qa.indexer import build
from crps_qa.retrieve import Retriever
from crps_qa.settings import Settings

REPO = Path(__file__).resolve().parent.parent


def fusion_settings(spec: str) -> dict:
    """"rrf:60" → RRF with k=60; "convex:0.4" → convex with dense weight 0.4; "dense"/"bm25" → that mode."""
    kind, _, value = spec.partition(":")
    if kind == "rrf":
        return {"fusion": "rrf", "rrf_k": int(value or 60)}
    if kind == "convex":
        return {"fusion": "convex", "dense_weight": float(value or 0.5)}
    raise SystemExit(f"unknown fusion spec {spec!r}; use rrf:K or convex:W")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--words", default="60,80,100,120,160,200")
    parser.add_argument("--overlap", default="0,1,2")
    parser.add_argument("--fusion", default="rrf:60,convex:0.3,convex:0.5,convex:0.7")
    parser.add_argument("--questions", type=Path, default=REPO / "eval" / "questions.jsonl")
    parser.add_argument("--extra", default="", help="extra settings as key=value,key=value")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    logging.disable(logging.WARNING)
    extra = dict(kv.split("=", 1) for kv in args.extra.split(",") if kv)
    embedder = load_embedder("all-MiniLM-L6-v2")
    splits = {name: load_questions(args.questions, split=name) for name in ("dev", "test")}
    print("| words | overlap | fusion | passages | dev hit@5 | dev hit@10 | dev MRR@10 | test hit@5 | test hit@10 "
          "| test nDCG@10 | all hit@5 |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for words in [int(w) for w in args.words.split(",")]:
        for overlap in [int(o) for o in args.overlap.split(",")]:
            with tempfile.TemporaryDirectory() as tmp:
                base = Settings(corpus_dir=REPO / "corpus", index_dir=Path(tmp), chunk_max_words=words,
                                chunk_overlap_sentences=overlap, **extra)
                build(base, embedder)
                data = load_index(base.index_dir)
                for spec in args.fusion.split(","):
                    settings = base.model_copy(update=fusion_settings(spec))
                    retriever = Retriever(data, embedder, settings)
                    dev = evaluate_retrieval(retriever, splits["dev"], modes=["hybrid"]).metrics["hybrid"]
                    test = evaluate_retrieval(retriever, splits["test"], modes=["hybrid"]).metrics["hybrid"]
                    n_dev, n_test = len([q for q in splits["dev"] if q.answerable]), len(
                        [q for q in splits["test"] if q.answerable])
                    both = (dev["hit_rate@5"] * n_dev + test["hit_rate@5"] * n_test) / (n_dev + n_test)
                    print(f"| {words} | {overlap} | {spec} | {len(data.passages)} | {dev['hit_rate@5']:.3f} | "
                          f"{dev['hit_rate@10']:.3f} | {dev['mrr@10']:.3f} | {test['hit_rate@5']:.3f} | "
                          f"{test['hit_rate@10']:.3f} | {test['ndcg@10']:.3f} | {both:.3f} |", flush=True)


if __name__ == "__main__":
    main()
