"""The word matcher's one large product: every question word piece against every word piece of a
query's candidate sentences, and each sentence's best cosine per question piece.

    products = TokenProducts()
    products.best_of_many(question, [tokens_a, tokens_b])   # [(pieces,), (pieces,)] float32

A question has ~10 content pieces, a query's candidates ~300 sentences (~10,000 word pieces).
numpy's BLAS (OpenBLAS) computes such a skinny (10 x 384) by (384 x 10,000) product in 2.7 ms on
one thread here, ONNX Runtime's matrix multiply (MLAS, already loaded for the encoder) in 1.0 ms
(``python bench/token_products.py``; bench/RESULTS.md). The result is the same product; the graph
is one MatMul node, built in memory. Sentences whose token vectors the index stores as codes are
scored from the codes instead (:meth:`crps_qa.index.tokens.TokenTable.best_cosines`); this product
serves the papers' title lines and sentences encoded at query time.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from crps_qa.index.embed import TokenVectors


def _session(threads: int):  # noqa: ANN202 - an onnxruntime.InferenceSession
    """A session that computes ``tokens @ question_t``: (n, d) x (d, p) -> (n, p), float32."""
    import onnxruntime as ort
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("MatMul", ["tokens", "question_t"], ["cosines"])], "token_products",
        [helper.make_tensor_value_info("tokens", TensorProto.FLOAT, ["n", "d"]),
         helper.make_tensor_value_info("question_t", TensorProto.FLOAT, ["d", "p"])],
        [helper.make_tensor_value_info("cosines", TensorProto.FLOAT, ["n", "p"])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # what this onnxruntime reads
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


class TokenProducts:
    """Best cosines of question pieces with many sentences' word pieces, from one product.
    ``threads``: ONNX Runtime intra-op threads (1: a query runs on one core; the service runs
    queries side by side). Thread-safe (an ONNX Runtime session may run concurrently)."""

    def __init__(self, threads: int = 1) -> None:
        self._session = _session(threads)

    def cosines(self, question: np.ndarray, tokens: np.ndarray) -> np.ndarray:
        """(pieces of ``tokens``, pieces of ``question``): every dot product."""
        return self._session.run(None, {
            "tokens": np.ascontiguousarray(tokens, dtype=np.float32),
            "question_t": np.ascontiguousarray(question.T, dtype=np.float32),
        })[0]

    def best_of_many(self, question: np.ndarray, sentences: Sequence[TokenVectors]) -> list[np.ndarray]:
        """For each sentence, each question piece's best cosine with any of its word pieces (zeros
        for a sentence without any)."""
        sizes = np.array([len(tv.vectors) for tv in sentences], dtype=np.int64)
        if not sizes.any():
            return self.best_in_block(question, np.zeros((0, question.shape[1]), np.float32), sizes)
        return self.best_in_block(question, np.concatenate([tv.vectors for tv in sentences if len(tv.vectors)]), sizes)

    def best_in_block(self, question: np.ndarray, tokens: np.ndarray, sizes: np.ndarray) -> list[np.ndarray]:
        """:meth:`best_of_many` of sentences whose word pieces are the consecutive rows of ``tokens``,
        ``sizes[i]`` rows for sentence i."""
        out = [np.zeros(len(question), dtype=np.float32)] * len(sizes)
        filled = np.flatnonzero(sizes)
        if not len(filled) or not len(question):
            return out
        similarities = self.cosines(question, tokens)
        starts = np.concatenate([[0], np.cumsum(sizes[filled])[:-1]])
        best = np.maximum.reduceat(similarities, starts, axis=0)
        for row, i in enumerate(filled):
            out[i] = best[row]
        return out
