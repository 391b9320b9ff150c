"""Token vectors of every sentence, stored at index time for the word-by-word matcher
(:mod:`crps_qa.search.late`), product-quantized to CODE_BYTES bytes per word piece.

    table = TokenTable.coded(keys, codes, codec)   # or TokenTable.of(keys, vectors, dimension): float16
    table.get(("paper-1", 120, 180))               # (pieces, dimension) float32 unit vectors, or None
    table.save(folder); TokenTable.load(folder)    # memory-mapped: a large corpus costs disk, not memory

Files in a build folder::

    token_index.npz      sentence keys (document, start, end) and where each one's rows start
    token_codes.npy      uint8 (word pieces, CODE_BYTES): product-quantizer codes ...
    token_codebook.npy   ... and the quantizer's centroids (sub-vectors, 256, dimension / sub-vectors)
    token_vectors.npy    float16 (word pieces, dimension): instead of the two above, for a corpus too
                         small to train a quantizer on (under MIN_CODED_TOKENS word pieces)

Why product quantization: float16 costs 2 × 384 = 768 bytes per word piece, ~23 KB for a
30-piece sentence; 48 one-byte codes (one per 8 dimensions) cost 48, ~1.5 KB per sentence. On
this corpus's token vectors a decoded vector keeps cosine ~0.90 to the original, and the
matcher's per-sentence scores keep a Spearman correlation of ~0.99 with exact ones
(bench/RESULTS.md). At query time only the candidates' rows are read, and scored from their codes
without decoding them (:meth:`TokenTable.best_cosines`, :mod:`crps_qa.index.adc`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import faiss
import numpy as np

CODE_BYTES = 48  # bytes per word piece: 384 / 48 = 8 dimensions per sub-vector
MIN_CODED_TOKENS = 10_000  # fewer word pieces than this are stored as float16 (too few to train on)
TRAIN_TOKENS = 65_536  # word pieces the quantizer is trained on (faiss's own cap: 256 per centroid)
TRAIN_ITERATIONS = 12  # k-means rounds per sub-vector (faiss defaults to 25; 12 keeps a build quick)
_CENTROIDS = 256  # one byte per sub-vector


class TokenCodec:
    """A product quantizer: each vector cut into ``M`` sub-vectors, each stored as the byte of its
    nearest of 256 centroids. ``centroids`` has shape (M, 256, dimension / M)."""

    def __init__(self, centroids: np.ndarray) -> None:
        self.centroids = np.ascontiguousarray(centroids, dtype=np.float32)
        m, k, sub = self.centroids.shape
        self.dimension = m * sub
        self._pq = faiss.ProductQuantizer(self.dimension, m, int(np.log2(k)))
        faiss.copy_array_to_vector(self.centroids.ravel(), self._pq.centroids)
        self._pq.sync_transposed_centroids()  # faiss then encodes with SIMD over centroids: same codes, 1.25x faster
        self._norms_sq = np.einsum("mkd,mkd->mk", self.centroids, self.centroids)  # for best_cosines

    @classmethod
    def train(cls, sample: np.ndarray, *, code_bytes: int = CODE_BYTES, seed: int = 0) -> TokenCodec:
        """Learn the centroids from (at most TRAIN_TOKENS of) ``sample``'s rows."""
        sample = np.ascontiguousarray(sample, dtype=np.float32)
        if len(sample) > TRAIN_TOKENS:
            sample = sample[np.random.default_rng(seed).choice(len(sample), TRAIN_TOKENS, replace=False)]
        dimension = sample.shape[1]
        m = max(d for d in range(1, min(code_bytes, dimension) + 1) if dimension % d == 0)
        pq = faiss.ProductQuantizer(dimension, m, 8)
        pq.cp.seed = seed
        pq.cp.niter = TRAIN_ITERATIONS
        pq.train(sample)
        return cls(faiss.vector_to_array(pq.centroids).reshape(m, _CENTROIDS, dimension // m))

    def encode(self, vectors: np.ndarray) -> np.ndarray:
        """uint8 codes, one row of M bytes per vector."""
        if not len(vectors):
            return np.zeros((0, len(self.centroids)), dtype=np.uint8)
        return self._pq.compute_codes(np.ascontiguousarray(vectors, dtype=np.float32))

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """Unit float32 vectors from codes (each the concatenation of its sub-vectors' centroids)."""
        vectors, norms = self.decode_with_norms(codes)
        vectors /= np.maximum(norms, 1e-12)[:, None]
        return vectors

    def decode_with_norms(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The decoded vectors before they are made unit length, and their lengths: a caller that
        only needs cosines divides its products by the lengths instead (fewer divisions)."""
        codes = np.ascontiguousarray(codes, dtype=np.uint8)
        if not len(codes):
            return np.zeros((0, self.dimension), dtype=np.float32), np.zeros(0, dtype=np.float32)
        # faiss copies the centroids in C++: the same values as indexing self.centroids with numpy,
        # 20x faster (10,000 word pieces: 0.5 against 11 ms; bench/RESULTS.md)
        vectors = self._pq.decode(codes)
        return vectors, np.sqrt(np.einsum("ij,ij->i", vectors, vectors))  # np.linalg.norm costs 5x more

    def best_cosines(self, question: np.ndarray, codes: np.ndarray, firsts: np.ndarray, sizes: np.ndarray
                     ) -> np.ndarray:
        """(groups, question rows): for group i (code rows ``firsts[i]`` to ``firsts[i] + sizes[i]``),
        each question vector's best cosine with any of its decoded vectors (0 for an empty group),
        computed from the codes without decoding them (:mod:`crps_qa.index.adc`)."""
        from crps_qa.index import adc  # here: importing numba costs ~0.4 s and 60 MB, which only queries need

        question = np.ascontiguousarray(question, dtype=np.float32)
        if not len(firsts) or not len(question):
            return np.zeros((len(firsts), len(question)), dtype=np.float32)
        tables = adc.lookup_tables(self.centroids, question)
        return adc.best_cosines(tables, self._norms_sq, np.asarray(codes), np.asarray(firsts, dtype=np.int64),
                                np.asarray(sizes, dtype=np.int64))


class TokenTable:
    """Token vectors of every distinct sentence, computed at index time: what the word-by-word
    matcher would otherwise encode on first use.

    Sentence i is ``(doc_ids[i], starts[i], ends[i])``; its rows (one per word piece of the
    sentence as the matcher reads it) are ``offsets[i]:offsets[i + 1]`` of ``codes`` (with
    ``codec``) or of the float16 ``vectors``."""

    def __init__(self, doc_ids: Sequence[str], starts: np.ndarray, ends: np.ndarray, offsets: np.ndarray, *,
                 vectors: np.ndarray | None = None, codes: np.ndarray | None = None,
                 codec: TokenCodec | None = None) -> None:
        if (vectors is None) == (codes is None) or (codes is not None and codec is None):
            raise ValueError("a token table has float16 vectors, or codes and their codec")
        self.doc_ids = tuple(doc_ids)
        self.starts, self.ends, self.offsets = starts, ends, offsets
        self.vectors, self.codes, self.codec = vectors, codes, codec
        self._row = {(d, int(a), int(b)): i for i, (d, a, b) in enumerate(zip(self.doc_ids, starts, ends, strict=True))}

    @classmethod
    def of(cls, keys: Sequence[tuple[str, int, int]], vectors: Sequence[np.ndarray], dimension: int) -> TokenTable:
        """Uncompressed (float16), from sentence keys and each sentence's (pieces, dimension) vectors."""
        stacked = (np.concatenate(vectors) if len(vectors) else np.zeros((0, dimension))).astype(np.float16)
        return cls(*_keys(keys), _offsets(vectors), vectors=stacked.reshape(-1, dimension))

    @classmethod
    def coded(cls, keys: Sequence[tuple[str, int, int]], codes: Sequence[np.ndarray], codec: TokenCodec
              ) -> TokenTable:
        """Compressed, from sentence keys and each sentence's codes (``codec.encode`` of its vectors)."""
        stacked = np.concatenate(codes) if len(codes) else np.zeros((0, len(codec.centroids)), np.uint8)
        return cls(*_keys(keys), _offsets(codes), codes=stacked, codec=codec)

    @property
    def dimension(self) -> int:
        return self.codec.dimension if self.codec is not None else int(self.vectors.shape[1])  # type: ignore[union-attr]

    @property
    def pieces(self) -> int:
        """Word pieces stored (rows)."""
        return int(self.offsets[-1])

    def __len__(self) -> int:
        return len(self.doc_ids)

    def __contains__(self, key: object) -> bool:
        return key in self._row

    def get(self, key: tuple[str, int, int]) -> np.ndarray | None:
        """The sentence's token vectors as float32, or None when the table does not have it."""
        i = self._row.get(key)
        return None if i is None else self.row(i)

    def block(self, keys: Sequence[tuple[str, int, int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The token vectors of several sentences (every key in the table) as one float32 array,
        each sentence's rows after the one before, their lengths (divide by them for unit vectors)
        and each sentence's row count: decoded in one call (per sentence, numpy's call overhead
        cost more than the decoding; bench/RESULTS.md)."""
        firsts, sizes = self._spans(keys)
        part = (self.codes if self.codec is not None else self.vectors)[_gather(firsts, sizes)]  # type: ignore[index]
        if self.codec is not None:
            return (*self.codec.decode_with_norms(part), sizes)
        return np.asarray(part, np.float32), np.ones(len(part), dtype=np.float32), sizes

    def _spans(self, keys: Sequence[tuple[str, int, int]]) -> tuple[np.ndarray, np.ndarray]:
        """Each sentence's first row and row count."""
        rows = np.fromiter((self._row[key] for key in keys), dtype=np.int64, count=len(keys))
        firsts = self.offsets[rows]
        return firsts, self.offsets[rows + 1] - firsts

    def best_cosines(self, keys: Sequence[tuple[str, int, int]], question: np.ndarray) -> np.ndarray:
        """(sentences, question rows): each question vector's best cosine with any word piece of
        each sentence (every key in the table; 0 for a sentence without pieces). A compressed table
        computes them from the codes (:meth:`TokenCodec.best_cosines`), a float16 one from its vectors."""
        firsts, sizes = self._spans(keys)
        if self.codec is not None:
            return self.codec.best_cosines(question, self.codes, firsts, sizes)  # type: ignore[arg-type]
        out = np.zeros((len(keys), len(question)), dtype=np.float32)
        filled = np.flatnonzero(sizes)
        if len(filled) and len(question):
            vectors = np.asarray(self.vectors[_gather(firsts, sizes)], np.float32)  # type: ignore[index]
            products = vectors @ np.asarray(question, np.float32).T
            out[filled] = np.maximum.reduceat(products, np.concatenate([[0], np.cumsum(sizes[filled])[:-1]]), axis=0)
        return out

    def warm(self) -> None:
        """Ready what :meth:`best_cosines` runs: a compressed table's kernel is compiled by numba, or
        loaded from its cache, on first use (with numba's import: 1.9 s the first time, 0.9 s from the
        cache, here), which the first question would otherwise wait for."""
        if len(self) and self.codec is not None:  # one zero question against the first sentence
            self.codec.best_cosines(np.zeros((1, self.dimension), np.float32), self.codes,  # type: ignore[arg-type]
                                    self.offsets[:1], self.offsets[1:2] - self.offsets[:1])

    def row(self, i: int) -> np.ndarray:
        """Sentence ``i``'s token vectors as float32 unit vectors (decoded when compressed)."""
        a, b = self.offsets[i], self.offsets[i + 1]
        if self.codec is not None:
            return self.codec.decode(self.codes[a:b])  # type: ignore[index]
        return np.asarray(self.vectors[a:b], np.float32)  # type: ignore[index]

    def row_codes(self, i: int) -> np.ndarray:
        """Sentence ``i``'s codes, as stored (a compressed table only)."""
        return np.asarray(self.codes[self.offsets[i] : self.offsets[i + 1]])  # type: ignore[index]

    def save(self, folder: Path) -> None:
        names, doc_rows = np.unique(np.asarray(self.doc_ids, dtype=str), return_inverse=True)
        if self.codec is not None:
            np.save(folder / "token_codes.npy", self.codes)
            np.save(folder / "token_codebook.npy", self.codec.centroids)
        else:
            np.save(folder / "token_vectors.npy", self.vectors)
        with open(folder / "token_index.npz", "wb") as handle:
            np.savez(handle, doc_names=names, doc_rows=doc_rows.astype(np.int32), starts=self.starts.astype(np.int32),
                     ends=self.ends.astype(np.int32), offsets=self.offsets)

    @classmethod
    def load(cls, folder: Path) -> TokenTable | None:
        """The build's table, or None for a build without one (made by an embedder without token vectors)."""
        if not (folder / "token_index.npz").exists():
            return None
        with np.load(folder / "token_index.npz") as arrays:
            index = {name: np.asarray(arrays[name]) for name in arrays.files}
        # builds before compression stored every sentence's document id in full
        doc_ids = index["doc_ids"] if "doc_ids" in index else index["doc_names"][index["doc_rows"]]
        starts, ends, offsets = (index[n].astype(np.int64) for n in ("starts", "ends", "offsets"))
        if (folder / "token_codes.npy").exists():
            codes = np.load(folder / "token_codes.npy", mmap_mode="r")
            codec = TokenCodec(np.load(folder / "token_codebook.npy"))
            rows, table = len(codes), {"codes": codes, "codec": codec}
            if codes.shape[1:] != (len(codec.centroids),):
                raise ValueError(f"token codes have {codes.shape[1:]} bytes, the codebook {len(codec.centroids)}")
        else:
            vectors = np.load(folder / "token_vectors.npy", mmap_mode="r")
            rows, table = len(vectors), {"vectors": vectors}
        if len(offsets) != len(doc_ids) + 1 or offsets[-1] != rows:
            raise ValueError(f"token table has {rows} rows, its index expects {offsets[-1]}")
        return cls([str(d) for d in doc_ids], starts, ends, offsets, **table)


class TokenWriter:
    """Collects sentences' token vectors by cache key while a build encodes them, and compresses
    them as it goes: the first TRAIN_TOKENS word pieces train the codec (unless one is given,
    such as the previous build's), everything after is stored as codes only, so a large corpus
    never holds its float32 token vectors in memory.

        writer = TokenWriter(384)
        writer.add(key, vectors)                      # float32 (pieces, 384)
        table = writer.table(sentence_keys, text_keys)  # sentence i's vectors: those added as text_keys[i]
    """

    def __init__(self, dimension: int, codec: TokenCodec | None = None) -> None:
        self.dimension, self.codec = dimension, codec
        self._rows: dict[str, np.ndarray] = {}  # codes once a codec exists, else float32 vectors
        self._pending: list[str] = []  # keys still held as float32
        self._pending_pieces = 0

    def __contains__(self, key: object) -> bool:
        return key in self._rows

    def add(self, key: str, vectors: np.ndarray) -> None:
        if self.codec is not None:
            self._rows[key] = self.codec.encode(vectors)
            return
        self._rows[key] = np.asarray(vectors, dtype=np.float32)
        self._pending.append(key)
        self._pending_pieces += len(vectors)
        if self._pending_pieces >= TRAIN_TOKENS:
            self._compress()

    def add_codes(self, key: str, codes: np.ndarray) -> None:
        """Codes made by this writer's codec (a previous build's rows, copied as they are)."""
        self._rows[key] = np.asarray(codes, dtype=np.uint8)

    def table(self, keys: Sequence[tuple[str, int, int]], text_keys: Sequence[str]) -> TokenTable:
        """The table of sentences ``keys``; sentence i's rows are what was added as ``text_keys[i]``."""
        if self.codec is None and self._pending_pieces >= max(MIN_CODED_TOKENS, _CENTROIDS):
            self._compress()
        rows = [self._rows[k] for k in text_keys]
        if self.codec is None:
            return TokenTable.of(keys, rows, self.dimension)
        return TokenTable.coded(keys, rows, self.codec)

    def _compress(self) -> None:
        self.codec = TokenCodec.train(np.concatenate([self._rows[k] for k in self._pending]))
        for key in self._pending:
            self._rows[key] = self.codec.encode(self._rows[key])
        self._pending, self._pending_pieces = [], 0


def _gather(firsts: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Every row of every sentence, in order: one index array instead of a slice per sentence."""
    total = int(sizes.sum())
    return np.arange(total) + np.repeat(firsts - (np.cumsum(sizes) - sizes), sizes)


def _keys(keys: Sequence[tuple[str, int, int]]) -> tuple[list[str], np.ndarray, np.ndarray]:
    return ([k[0] for k in keys], np.asarray([k[1] for k in keys], dtype=np.int64),
            np.asarray([k[2] for k in keys], dtype=np.int64))


def _offsets(rows: Sequence[np.ndarray]) -> np.ndarray:
    offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(r) for r in rows])
    return offsets
