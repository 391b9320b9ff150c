"""Sweep chunking and fusion settings on the project's own eval set (eval/questions.jsonl).

    python bench/sweep_corpus.py                         # default grid, dev and test splits
    python bench/sweep_corpus.py --words 80,120 --overlap 1 --variants "fusion=rrf" "dense_weight=0.3"

For every chunking (max words x overlap sentences) the real corpus is indexed with the real model
into a temporary folder; every variant (settings overrides such as "fusion=rrf,rrf_k=60" or
"sentence_weight=0") is then scored on the same index. Prints one
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

from crps_qa.evaluate.harness import evaluate_retrieval, load_questions
from crps_qa.index.build import build
from crps_qa.index.embed import load_embedder
from crps_qa.index.store import load_index
from crps_qa.query.analyzer import QueryAnalyzer
from crps_qa.search.retrieve import Retriever
from crps_qa.settings import Settings

REPO = Path(__file__).resolve().parent.parent


def overrides(variant: str) -> dict[str, str]:
    """"fusion=rrf,rrf_k=60" → {"fusion": "rrf", "rrf_k": "60"} ("default" → no override)."""
    if variant == "default":
        return {}
    try:
        return dict(item.split("=", 1) for item in variant.split(",") if item)
    except ValueError:
        raise SystemExit(f"bad variant {variant!r}; use key=value,key=value") from None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--words", default="60,80,100,120,160,200")
    parser.add_argument("--overlap", default="0,1,2")
    parser.add_argument("--variants", nargs="+", default=["default"], help="settings overrides to compare")
    parser.add_argument("--questions", type=Path, default=REPO / "eval" / "questions.jsonl")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    logging.disable(logging.WARNING)
    embedder = load_embedder("all-MiniLM-L6-v2")
    splits = {name: load_questions(args.questions, split=name) for name in ("dev", "test")}
    print("| words | overlap | variant | passages | dev hit@5 | dev hit@10 | dev MRR@10 | test hit@5 | test hit@10 "
          "| test nDCG@10 | all hit@5 |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for words in [int(w) for w in args.words.split(",")]:
        for overlap in [int(o) for o in args.overlap.split(",")]:
            with tempfile.TemporaryDirectory() as tmp:
                base = Settings(corpus_dir=REPO / "corpus", index_dir=Path(tmp), chunk_max_words=words,
                                chunk_overlap_sentences=overlap)
                build(base, embedder)
                data = load_index(base.index_dir)
                for spec in args.variants:
                    settings = Settings(**{**base.model_dump(), **overrides(spec)})
                    analyzer = QueryAnalyzer(data, embedder, settings)
                    retriever = Retriever(data, embedder, settings, analyzer.expander)
                    dev = evaluate_retrieval(analyzer, retriever, splits["dev"], modes=["hybrid"]).metrics["hybrid"]
                    test = evaluate_retrieval(analyzer, retriever, splits["test"], modes=["hybrid"]).metrics["hybrid"]
                    n_dev, n_test = len([q for q in splits["dev"] if q.answerable]), len(
                        [q for q in splits["test"] if q.answerable])
                    both = (dev["hit_rate@5"] * n_dev + test["hit_rate@5"] * n_test) / (n_dev + n_test)
                    print(f"| {words} | {overlap} | {spec} | {len(data.passages)} | {dev['hit_rate@5']:.3f} | "
                          f"{dev['hit_rate@10']:.3f} | {dev['mrr@10']:.3f} | {test['hit_rate@5']:.3f} | "
                          f"{test['hit_rate@10']:.3f} | {test['ndcg@10']:.3f} | {both:.3f} |", flush=True)


if __name__ == "__main__":
    main()
