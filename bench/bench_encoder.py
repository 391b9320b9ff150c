"""Embedding backends side by side in one run: int8 ONNX (the default) against torch.

    python bench/bench_encoder.py                         # onnx-int8, onnx, torch; corpus/ and eval/
    python bench/bench_encoder.py --backends onnx-int8,torch --repeats 3 --eval

For each backend, on the same texts and interleaved per repeat (so load changes on a shared
machine hit every backend alike):

* **encoder**: passages/s over the corpus's passages (each backend's own batching: ONNX sorts
  by length), and the achieved GFLOP/s: the model's multiply-adds for those tokens (no padding
  counted) over the time, against a numpy float32 matmul measured in the same run (the
  machine's practical ceiling); query encode (vector and token vectors of one question, one
  pass) p50 in ms over the eval questions; cosine of the passage vectors to torch's.
* **index**: ``crps-qa index`` of corpus/ into a temporary folder, end to end (passages,
  sentences, token vectors): seconds, passages/s, and the token store's bytes per sentence
  on disk, against float16 (2 bytes x 384 per word piece, as before compression).
* with ``--eval``: on that index, eval/questions.jsonl hybrid hit@5 (ranx), answer hit rate and
  unanswerable-refused rate, and in-process hybrid search and ask p50.

Prints a Markdown table (medians; the ratio column is against torch).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from crps_qa.evaluate.harness import evaluate_answers, evaluate_retrieval, load_questions
from crps_qa.index.build import build
from crps_qa.index.embed import load_embedder
from crps_qa.index.store import current_build
from crps_qa.ingest.chunk import chunk_document
from crps_qa.ingest.pages import normalize_document
from crps_qa.ingest.read import ingest_corpus
from crps_qa.pipeline import Pipeline
from crps_qa.settings import Settings

REPO = Path(__file__).resolve().parent.parent
# all-MiniLM-L6-v2: 6 layers, hidden 384, feed-forward 1536. Per token and layer: Q, K, V and
# output projections 4 x 384², feed-forward 2 x 384 x 1536 multiply-adds; attention 2 x length x 384.
LAYERS, HIDDEN, FFN = 6, 384, 1536


def flops(lengths: list[int]) -> float:
    """Floating-point operations (2 per multiply-add) of one forward pass over texts of these token counts."""
    dense = 2 * LAYERS * (4 * HIDDEN * HIDDEN + 2 * HIDDEN * FFN)
    return float(sum(dense * n + 2 * LAYERS * 2 * n * n * HIDDEN for n in lengths))


def matmul_gflops(size: int = 1024, repeats: int = 5) -> float:
    a = np.random.default_rng(0).random((size, size), dtype=np.float32)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        a @ a
        times.append(time.perf_counter() - started)
    return 2 * size**3 / statistics.median(times) / 1e9


def passages(corpus: Path) -> list[str]:
    return [p.text for raw in ingest_corpus(corpus).documents
            for p in chunk_document(normalize_document(raw), max_words=120, overlap_sentences=1)]


def median_ms(function, items) -> float:  # noqa: ANN001 - a callable over items
    times = []
    for item in items:
        started = time.perf_counter()
        function(item)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="onnx-int8,onnx,torch")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--eval", action="store_true", help="also build an index per backend and run the eval set")
    parser.add_argument("--cache", type=Path, default=Path("~/.cache/crps-qa/onnx"), help="ONNX export folder")
    args = parser.parse_args(argv)
    backends = args.backends.split(",")
    texts = passages(REPO / "corpus")
    questions = load_questions(REPO / "eval" / "questions.jsonl")
    embedders = {}
    for backend in backends:
        started = time.perf_counter()
        embedders[backend] = load_embedder(backend=backend, cache_dir=args.cache)
        print(f"{backend}: loaded in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    lengths = [len(p) + 2 for p in embedders[backends[0]].word_pieces(texts)]
    lengths = [min(n, 256) for n in lengths]
    rows: dict[str, dict[str, float]] = {b: {} for b in backends}
    ceilings, seconds = [], {b: [] for b in backends}
    vectors = {}
    for _ in range(args.repeats):
        ceilings.append(matmul_gflops())
        for backend in backends:
            started = time.perf_counter()
            vectors[backend] = embedders[backend].encode(texts, batch_size=32)
            seconds[backend].append(time.perf_counter() - started)
    ceiling = statistics.median(ceilings)
    for backend in backends:
        took = statistics.median(seconds[backend])
        rows[backend]["passages/s"] = len(texts) / took
        rows[backend]["GFLOP/s"] = flops(lengths) / took / 1e9
        rows[backend]["share of the matmul ceiling"] = flops(lengths) / took / 1e9 / ceiling
        rows[backend]["query encode p50 ms"] = median_ms(
            lambda q, e=embedders[backend]: e.encode_with_tokens([q.question]), questions)
        if "torch" in vectors:
            cosines = (vectors[backend] * vectors["torch"]).sum(axis=1)
            rows[backend]["cosine to torch, mean"] = float(cosines.mean())
            rows[backend]["cosine to torch, min"] = float(cosines.min())
    with tempfile.TemporaryDirectory() as tmp:
        for backend in backends:
            settings = Settings(corpus_dir=REPO / "corpus", index_dir=Path(tmp) / backend, embed_backend=backend,
                                embed_cache_dir=args.cache)
            report = build(settings, embedders[backend], rebuild=True)
            rows[backend]["index build s"] = report.seconds
            rows[backend]["index passages/s (end to end)"] = report.passages / report.seconds
            folder = current_build(settings.index_dir)
            pipeline = Pipeline.open(settings, embedder=embedders[backend])
            table = pipeline.data.tokens
            stored = sum(f.stat().st_size for f in folder.glob("token_*"))
            rows[backend]["token store bytes/sentence"] = stored / len(table)
            rows[backend]["float16 bytes/sentence"] = table.pieces * table.dimension * 2 / len(table)
            if args.eval:
                retrieval = evaluate_retrieval(pipeline.retriever, questions, modes=["hybrid"])
                answers = evaluate_answers(pipeline.ask, questions)
                rows[backend]["eval hybrid hit@5"] = retrieval.metrics["hybrid"]["hit_rate@5"]
                rows[backend]["eval answer hit"] = answers.metrics["answer_hit_rate"]
                rows[backend]["eval unanswerable refused"] = answers.metrics["refusal_recall"]
                rows[backend]["hybrid search p50 ms"] = median_ms(lambda q, p=pipeline: p.search(q.question),
                                                                  questions)
                rows[backend]["ask p50 ms"] = median_ms(lambda q, p=pipeline: p.ask(q.question), questions)
    print(f"{len(texts)} passages ({sum(lengths)} tokens), {len(questions)} questions, {args.repeats} repeats; "
          f"numpy float32 1024² matmul: {ceiling:.1f} GFLOP/s\n")
    print("| measure | " + " | ".join(backends) + (" | ratio to torch |" if "torch" in backends else " |"))
    print("|---" * (len(backends) + 1 + ("torch" in backends)) + "|")
    for measure in rows[backends[0]]:
        values = [rows[b][measure] for b in backends]
        line = f"| {measure} | " + " | ".join(f"{v:.3f}" if v < 10 else f"{v:.1f}" for v in values)
        if "torch" in backends:
            base = rows["torch"][measure]
            line += " | " + ", ".join(f"{rows[b][measure] / base:.2f}" for b in backends if b != "torch" and base)
        print(line + " |")


if __name__ == "__main__":
    main()
