"""The word matcher's one large product, numpy (OpenBLAS) against ONNX Runtime (MLAS), one thread.

    python bench/token_products.py                  # a table: median ms per product, and the ratio
    python bench/token_products.py --tokens 10000 --pieces 10 --repeats 200

A query's candidates are ~300 sentences (~10,000 word pieces of 384 dimensions); a question has
~10 content word pieces. ``search.products.TokenProducts`` computes their cosines on ONNX
Runtime; before, ``question @ tokens.T`` on numpy. Random unit vectors (the values do not change
the cost); the concatenation of per-sentence arrays is timed separately, as the matcher paid it
too. Also the decoding of the word pieces' product-quantizer codes (``index.tokens.TokenCodec``):
numpy indexing of the centroids (before) against faiss's decoder, each with its normalization.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy loads: one thread, as a query has

import numpy as np  # noqa: E402

from crps_qa.index.tokens import TokenCodec  # noqa: E402
from crps_qa.search.products import TokenProducts  # noqa: E402


def numpy_decode(codec: TokenCodec, codes: np.ndarray) -> np.ndarray:
    """The decoder before: numpy indexing of the centroids, then np.linalg.norm."""
    parts = codec.centroids[np.arange(len(codec.centroids)), codes]
    vectors = parts.reshape(len(codes), codec.dimension)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return vectors


def median_ms(run, repeats: int) -> float:  # noqa: ANN001 - a callable
    run()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return float(np.median(times) * 1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=10_000, help="word pieces of the candidate sentences")
    parser.add_argument("--pieces", type=int, default=10, help="content word pieces of the question")
    parser.add_argument("--repeats", type=int, default=100)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    sizes = rng.integers(10, 60, size=args.tokens // 35)
    sentences = [rng.standard_normal((int(n), 384)).astype(np.float32) for n in sizes]
    tokens = np.concatenate(sentences)
    question = rng.standard_normal((args.pieces, 384)).astype(np.float32)
    products = TokenProducts()
    unit = tokens / np.linalg.norm(tokens, axis=1, keepdims=True)
    codec = TokenCodec.train(unit[:20_000])
    codes = codec.encode(unit)
    rows = [
        ("concatenate the sentences' arrays", median_ms(lambda: np.concatenate(sentences), args.repeats)),
        ("numpy question @ tokens.T (before)", median_ms(lambda: question @ tokens.T, args.repeats)),
        ("numpy tokens @ question.T", median_ms(lambda: tokens @ question.T, args.repeats)),
        ("ONNX Runtime MatMul (TokenProducts)", median_ms(lambda: products.cosines(question, tokens), args.repeats)),
        ("decode the codes: numpy (before)", median_ms(lambda: numpy_decode(codec, codes), args.repeats)),
        ("decode the codes: faiss (TokenCodec.decode)", median_ms(lambda: codec.decode(codes), args.repeats)),
    ]
    print(f"{len(tokens)} word pieces x {args.pieces} question pieces, 384 dimensions, one thread")
    print("| product | median ms |\n|---|---|")
    for name, ms in rows:
        print(f"| {name} | {ms:.2f} |")
    print(f"product: ONNX Runtime against numpy (before) {rows[1][1] / rows[3][1]:.1f}x faster; "
          f"decoding: faiss against numpy (before) {rows[4][1] / rows[5][1]:.1f}x faster")


if __name__ == "__main__":
    main()
