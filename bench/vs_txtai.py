"""crps-qa against txtai on BEIR SciFact: same MiniLM model, same run, same machine.

    pip install -e '.[bench]'                     # txtai (bench only; installed with --no-deps here,
                                                  #  so it cannot pull a CUDA torch)
    python bench/vs_txtai.py /work/shared/bench/scifact            # table
    python bench/vs_txtai.py /work/shared/bench/scifact --json     # one JSON object per system
    python bench/vs_txtai.py ... --txtai-exact    # also txtai with an exact (flat) FAISS index
    python bench/vs_txtai.py ... --docs 500 --queries 100   # a subset, for a busy machine
    python bench/vs_txtai.py ... --only txtai > t.json   # one system; then --combine c.json t.json

Each system runs in its own subprocess (peak RSS is that process's own high-water mark) with the
same threads (``--threads``, default 1: each system's encoder, torch or ONNX Runtime, and FAISS),
from nothing: build time includes every vector it encodes (crps-qa: documents and their sentences;
txtai: documents), so no vector cache is used. Query time is per query, encoding included, top
100. nDCG@10 from ranx. crps-qa runs its configured pipeline (``Settings()``: hybrid mode, the
encoder and backend the environment selects), on the BEIR path of ``crps-qa eval --beir`` (one unit
per document), with the sentences' token vectors stored at build time as ``crps-qa index`` stores
them (from the sentences' one pass), and the title lines' token vectors encoded before the first
query (as the service does when it loads an index; counted in build time). Each query is
encoded once for its vector and token vectors, as ``Pipeline.search`` does. txtai runs its published default hybrid
(``hybrid=True``: FAISS, which becomes IVF above 5,000 rows, plus BM25) on the same MiniLM folder.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

SYSTEMS = ("crps-qa", "txtai")


def _threads(threads: int) -> None:
    import faiss
    import torch

    torch.set_num_threads(threads)
    faiss.omp_set_num_threads(threads)


def _ndcg(qrels: dict, run: dict) -> float:
    from ranx import Qrels, Run, evaluate

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(evaluate(Qrels(qrels), Run(run), "ndcg@10", make_comparable=True))


def _summary(system: str, build_s: float, times: list[float], qrels: dict, run: dict, **extra) -> dict:
    ms = np.asarray(times) * 1000
    return {
        "system": system, "ndcg_at_10": round(_ndcg(qrels, run), 4), "build_s": round(build_s, 1),
        "query_p50_ms": round(float(np.percentile(ms, 50)), 2), "query_p95_ms": round(float(np.percentile(ms, 95)), 2),
        "queries": len(times), "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        **extra,
    }


def load_subset(directory: Path, docs: int | None, queries: int | None) -> tuple[list[dict], dict, dict]:
    """SciFact, or its first ``queries`` test queries with every document judged for them plus
    the corpus's first other documents up to ``docs`` (a quick run on a busy machine)."""
    from crps_qa.evaluate.beir import load_beir

    corpus, questions, qrels = load_beir(directory)
    if queries is not None:
        questions = dict(list(questions.items())[:queries])
        qrels = {q: qrels[q] for q in questions}
    if docs is not None:
        judged = {d for judgements in qrels.values() for d in judgements}
        others = [d for d in corpus if d["_id"] not in judged][: max(0, docs - len(judged))]
        keep = judged | {d["_id"] for d in others}
        corpus = [d for d in corpus if d["_id"] in keep]
    return corpus, questions, qrels


def run_crps_qa(directory: Path, docs: int | None = None, queries: int | None = None, threads: int = 1) -> dict:
    from crps_qa.evaluate.beir import build_beir_index
    from crps_qa.index.embed import embedder_for
    from crps_qa.query.analyzer import QueryAnalyzer
    from crps_qa.search.fusion import ranked
    from crps_qa.search.retrieve import Retriever
    from crps_qa.settings import Settings

    _threads(threads)
    settings = Settings(embed_threads=threads)
    corpus, queries, qrels = load_subset(directory, docs, queries)
    embedder = embedder_for(settings)  # as `crps-qa eval --beir` loads it, on ``threads`` intra-op threads
    started = time.perf_counter()
    # documents, their sentences and the sentences' token vectors (one pass gives a sentence's
    # vector and its token vectors), as `crps-qa eval --beir` builds them
    data, _, _ = build_beir_index(corpus, embedder, batch_size=settings.batch_size, cache=None)
    retriever, analyzer = Retriever(data, embedder, settings), QueryAnalyzer(data, embedder, settings)
    if retriever.matcher is not None:  # the title lines' token vectors, as the service warms them at load
        retriever.matcher.title_vectors([d["_id"] for d in corpus])
    build_s = time.perf_counter() - started
    run, times = {}, []
    for qid, text in queries.items():
        began = time.perf_counter()
        # as Pipeline.search: one model pass gives the query's vector and its token vectors
        scores = retriever.run(analyzer.encode(analyzer.analyze(text)), mode="hybrid", n=100)
        times.append(time.perf_counter() - began)
        run[qid] = {data.passages[r].chunk_id: scores[r] for r in ranked(scores)[:100]} or {"<none>": 0.0}
    return _summary("crps-qa", build_s, times, qrels, run, embedder=type(embedder).__name__,
                    sentences=len(data.sentences), token_table=data.tokens is not None, documents=len(corpus),
                    threads=threads)


def run_txtai(directory: Path, exact: bool, docs: int | None = None, queries: int | None = None, threads: int = 1
              ) -> dict:
    from txtai import Embeddings

    from crps_qa.evaluate.beir import unit_text
    from crps_qa.index.embed import resolve_model_path

    _threads(threads)
    corpus, queries, qrels = load_subset(directory, docs, queries)
    config = {"path": str(resolve_model_path("all-MiniLM-L6-v2")), "hybrid": True, "content": False}
    if exact:
        config["faiss"] = {"components": "IDMap,Flat"}
    started = time.perf_counter()
    embeddings = Embeddings(config)
    embeddings.index([(d["_id"], unit_text(d)[0], None) for d in corpus])
    build_s = time.perf_counter() - started
    run, times = {}, []
    for qid, text in queries.items():
        began = time.perf_counter()
        found = embeddings.search(text, 100)
        times.append(time.perf_counter() - began)
        run[qid] = {str(uid): float(score) for uid, score in found} or {"<none>": 0.0}
    return _summary("txtai-exact" if exact else "txtai", build_s, times, qrels, run,
                    dense_index="IDMap,Flat" if exact else "default (IVF above 5,000 rows)", documents=len(corpus),
                    threads=threads)


def _child(system: str, directory: Path, subset: list[str]) -> dict:
    """Run one system in a fresh interpreter and return its JSON line."""
    out = subprocess.run([sys.executable, __file__, str(directory), "--only", system, *subset], check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("beir", type=Path, help="BEIR folder (corpus.jsonl, queries.jsonl, qrels/test.tsv)")
    parser.add_argument("--json", action="store_true", help="one JSON object per system")
    parser.add_argument("--txtai-exact", action="store_true", help="also txtai with an exact FAISS index")
    parser.add_argument("--only", choices=[*SYSTEMS, "txtai-exact"], help="run one system, print its JSON line")
    parser.add_argument("--docs", type=int, help="a subset: the judged documents plus others up to this many")
    parser.add_argument("--queries", type=int, help="a subset: the first this many test queries")
    parser.add_argument("--threads", type=int, default=1,
                        help="threads for each system's encoder (torch / ONNX Runtime) and FAISS (default 1)")
    parser.add_argument("--combine", nargs="+", type=Path, help="files of --only lines (crps-qa first): the table")
    args = parser.parse_args()
    if args.only:
        subset = {"docs": args.docs, "queries": args.queries, "threads": args.threads}
        result = (run_crps_qa(args.beir, **subset) if args.only == "crps-qa"
                  else run_txtai(args.beir, args.only == "txtai-exact", **subset))
        print(json.dumps(result))
        return
    systems = [*SYSTEMS, "txtai-exact"] if args.txtai_exact else list(SYSTEMS)
    if args.combine:  # e.g. the systems were run side by side, each with --only
        results = [json.loads(path.read_text().strip().splitlines()[-1]) for path in args.combine]
    else:
        subset = [f"--{name}={value}" for name, value in
                  (("docs", args.docs), ("queries", args.queries), ("threads", args.threads)) if value]
        results = [_child(system, args.beir, subset) for system in systems]
    ours = results[0]
    for other in results[1:]:
        ours[f"vs_{other['system']}"] = {
            "ndcg_at_10_diff": round(ours["ndcg_at_10"] - other["ndcg_at_10"], 4),
            "query_p50_speedup": round(other["query_p50_ms"] / ours["query_p50_ms"], 2),
            "build_speedup": round(other["build_s"] / ours["build_s"], 2),
            "peak_rss_ratio": round(ours["peak_rss_mb"] / other["peak_rss_mb"], 2),
        }
    if args.json:
        for result in results:
            print(json.dumps(result))
        return
    keys = ("ndcg_at_10", "build_s", "query_p50_ms", "query_p95_ms", "peak_rss_mb")
    print("| system | " + " | ".join(keys) + " |\n|---|" + "---|" * len(keys))
    for result in results:
        print(f"| {result['system']} | " + " | ".join(str(result[k]) for k in keys) + " |")
    for other in results[1:]:
        ratio = ours[f"vs_{other['system']}"]
        print(f"crps-qa vs {other['system']}: nDCG@10 {ratio['ndcg_at_10_diff']:+.4f}, query p50 "
              f"{ratio['query_p50_speedup']}x faster, build {ratio['build_speedup']}x faster, "
              f"peak RSS {ratio['peak_rss_ratio']}x")


if __name__ == "__main__":
    main()
