"""Cosines straight from product-quantizer codes (asymmetric distance computation), for the word
matcher's one large product: every question word piece against every stored word piece of a
query's candidate sentences, keeping each sentence's best per question piece.

    tables = lookup_tables(centroids, question)               # (sub-vectors, 256, question pieces)
    best = best_cosines(tables, norms_sq, codes, firsts, sizes)   # (sentences, question pieces)

A stored word piece is the concatenation of one centroid per sub-vector, so its dot product with
a question vector is the sum, over sub-vectors, of (question sub-vector · that centroid): 48 table
lookups instead of decoding 384 floats and multiplying them. Sub-vectors are orthogonal parts of
the vector, so its squared length is likewise the sum of its centroids' squared lengths. The result
equals decoding and multiplying (to float32 rounding, ~1e-7; tests/test_token_codes.py) and never
materialises the decoded vectors: ~10 MB a query that decoding wrote and read back (bench/RESULTS.md:
1.4 against 2.5 ms for ~6,000 word pieces on one thread).

Compiled by numba (a ranx dependency already) on first use and cached beside this file.
"""

from __future__ import annotations

import numpy as np
from numba import njit


def lookup_tables(centroids: np.ndarray, question: np.ndarray) -> np.ndarray:
    """(sub-vectors, 256, question pieces) float32: each question vector's sub-vector dotted with
    each centroid of that sub-vector. ``centroids``: (sub-vectors, 256, dimension / sub-vectors)."""
    m, _, sub = centroids.shape
    pieces = question.reshape(len(question), m, sub).transpose(1, 2, 0)  # (sub-vectors, sub, pieces)
    return np.ascontiguousarray(np.matmul(centroids, pieces), dtype=np.float32)


@njit(cache=True, nogil=True)
def best_cosines(tables: np.ndarray, norms_sq: np.ndarray, codes: np.ndarray, firsts: np.ndarray,
                 sizes: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled; tested through its callers
    """For sentence s (code rows ``firsts[s]`` to ``firsts[s] + sizes[s]``), each question piece's
    best cosine with any of its rows: (sentences, question pieces), 0 for a sentence without rows.
    ``norms_sq``: (sub-vectors, 256) squared lengths of the centroids."""
    m_count, _, p = tables.shape
    out = np.zeros((len(firsts), p), dtype=np.float32)
    acc = np.empty(p, dtype=np.float32)
    for s in range(len(firsts)):
        if sizes[s] == 0:
            continue
        best = out[s]
        best[:] = -np.inf
        for i in range(firsts[s], firsts[s] + sizes[s]):
            acc[:] = 0.0
            length_sq = np.float32(0.0)
            for m in range(m_count):
                c = codes[i, m]
                length_sq += norms_sq[m, c]
                for j in range(p):
                    acc[j] += tables[m, c, j]
            inverse = np.float32(1.0) / np.sqrt(max(length_sq, np.float32(1e-24)))
            for j in range(p):
                value = acc[j] * inverse
                if value > best[j]:
                    best[j] = value
    return out
