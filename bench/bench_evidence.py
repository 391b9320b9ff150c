"""What evidence facets and receipts cost: facet extraction per paper, the model weights hash (once
per process), a receipt per answer, and one replay.

    python bench/bench_evidence.py --index /tmp/bidx      # an index of corpus/ built with the real model

Prints a Markdown table. The weights hash reads the model's weight files once and is then cached on
the embedder; a receipt afterwards only hashes short strings.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from crps_qa.index.embed import load_embedder
from crps_qa.ingest.catalog import load_catalog
from crps_qa.ingest.facets import extract_facets
from crps_qa.ingest.pages import normalize_document
from crps_qa.ingest.read import ingest_corpus
from crps_qa.pipeline import Pipeline
from crps_qa.receipt import AskRequest, make_receipt, replay
from crps_qa.settings import Settings

QUESTION = "What was the highest ketamine infusion rate?"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, default=Path("index"))
    parser.add_argument("--corpus", type=Path, default=Path("corpus"))
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()

    docs = [normalize_document(raw) for raw in ingest_corpus(args.corpus).documents]
    catalog = load_catalog(args.corpus)
    times = []
    for _ in range(args.repeats):
        started = time.perf_counter()
        for doc in docs:
            extract_facets(doc, catalog.get(doc.doc_id))
        times.append(time.perf_counter() - started)
    chars = sum(len(d.text) for d in docs)

    settings = Settings(index_dir=args.index, corpus_dir=args.corpus)
    pipeline = Pipeline.open(settings, embedder=load_embedder(settings.model))
    started = time.perf_counter()
    weights = getattr(pipeline.embedder, "weights_sha256", None)
    first_hash = time.perf_counter() - started
    started = time.perf_counter()
    getattr(pipeline.embedder, "weights_sha256", None)
    cached_hash = time.perf_counter() - started

    request = AskRequest(QUESTION)
    answer = request.run(pipeline)
    receipts = []
    for _ in range(args.repeats):
        started = time.perf_counter()
        receipt = make_receipt(pipeline, answer, request)
        receipts.append(time.perf_counter() - started)
    started = time.perf_counter()
    result = replay(receipt, pipeline)
    replay_time = time.perf_counter() - started

    print("| step | time |\n|---|---|")
    print(f"| facets of all {len(docs)} papers ({chars} characters), median of {args.repeats} | "
          f"{ms(statistics.median(times))} |")
    print(f"| model weights hash, first call (then cached) | {ms(first_hash)} ({str(weights)[:12]}…) |")
    print(f"| model weights hash, cached | {ms(cached_hash)} |")
    print(f"| receipt of one answer, median of {args.repeats} | {ms(statistics.median(receipts))} |")
    print(f"| replay of that receipt (one ask) | {ms(replay_time)}, identical: {result.identical} |")


if __name__ == "__main__":
    main()
