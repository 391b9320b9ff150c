"""The embedding model run by ONNX Runtime: the default backend (``embed_backend=onnx-int8``).

    embedder = OnnxEmbedder("all-MiniLM-L6-v2", cache_dir=Path("~/.cache/crps-qa/onnx"))
    vectors, tokens = embedder.encode_with_tokens(["ketamine infusion rate"])   # one forward pass

Same protocols (:class:`~crps_qa.index.embed.Embedder`, :class:`~crps_qa.index.embed.TokenEncoder`)
and the same word pieces as the torch backend: the tokenizer is the model's own ``tokenizer.json``,
cut to the model's ``max_seq_length``. The int8 model runs each text alone: it quantizes every
layer's input with one scale per run, so in a batch a text's vector would move with the texts beside
it (and with ``batch_size``); alone, a vector is a function of its text, the same at build and at
query time. The float32 model sorts texts by length into batches, so a batch pads little. The export
is made on first use (:mod:`crps_qa.index.onnx_export`); after that, loading
needs neither torch nor transformers.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from functools import cached_property
from pathlib import Path

import numpy as np

from crps_qa.errors import ModelError
from crps_qa.index.embed import DEFAULT_MODEL, TokenVectors, resolve_model_path, weights_sha256
from crps_qa.index.onnx_export import cpu_threads, exported_model, open_session

ONNX_BACKENDS = ("onnx-int8", "onnx")


class OnnxEmbedder:
    """A sentence-transformers model (mean pooling) exported to ONNX and run by ONNX Runtime."""

    def __init__(self, name: str = DEFAULT_MODEL, *, backend: str = "onnx-int8",
                 cache_dir: Path = Path("~/.cache/crps-qa/onnx"), threads: int = 0) -> None:
        if backend not in ONNX_BACKENDS:
            raise ModelError(f"Unknown ONNX backend {backend!r}; use one of {', '.join(ONNX_BACKENDS)}.")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        path = resolve_model_path(name)
        self.name, self.backend, self.path = name, backend, path
        self._limit, self.dimension = _model_shape(path)
        from tokenizers import Tokenizer

        self._tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(self._limit)
        self._pieces = Tokenizer.from_file(str(path / "tokenizer.json"))  # whole texts, for word_pieces
        self._pieces.no_padding()
        self._pieces.no_truncation()
        self.threads = cpu_threads(threads)
        try:
            self._session = open_session(exported_model(path, cache_dir, backend), threads=self.threads)
        except ModelError:
            raise
        except Exception as exc:  # noqa: BLE001 - an export or runtime failure is reported the same way
            raise ModelError(f"Could not run model {name!r} with ONNX Runtime ({type(exc).__name__}: {exc}). "
                             "Set CRPS_QA_EMBED_BACKEND=torch to use sentence-transformers instead.") from exc

    @cached_property
    def weights_sha256(self) -> str:
        """Hash of the weight files the export was made from (as the torch backend reports it)."""
        return weights_sha256(self.path)

    def encode(self, texts: Sequence[str], *, batch_size: int = 32, progress: bool = False) -> np.ndarray:
        pooled = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for i, vector, _ in self._forward(texts, batch_size, tokens=False, progress=progress):
            pooled[i] = vector
        return _unit(pooled)

    def encode_tokens(self, texts: Sequence[str], *, batch_size: int = 32) -> list[TokenVectors]:
        return self.encode_with_tokens(texts, batch_size=batch_size)[1]

    def encode_with_tokens(self, texts: Sequence[str], *, batch_size: int = 32
                           ) -> tuple[np.ndarray, list[TokenVectors]]:
        pooled = np.zeros((len(texts), self.dimension), dtype=np.float32)
        tokens: list[TokenVectors | None] = [None] * len(texts)
        for i, vector, token_vectors in self._forward(texts, batch_size, tokens=True):
            pooled[i], tokens[i] = vector, token_vectors
        return _unit(pooled), tokens  # type: ignore[return-value]

    def word_pieces(self, texts: Sequence[str]) -> list[list[str]]:
        return [e.tokens for e in self._pieces.encode_batch(list(texts), add_special_tokens=False)]

    def _forward(self, texts: Sequence[str], batch_size: int, *, tokens: bool, progress: bool = False
                 ) -> Iterator[tuple[int, np.ndarray, TokenVectors | None]]:
        """(text position, pooled vector, token vectors or None) of every text, batch by batch in
        order of length (shortest first)."""
        encodings = self._tokenizer.encode_batch(list(texts))
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        if self.backend == "onnx-int8":  # one scale per run for the activations: each text alone (module doc)
            batch_size = 1
        batches = range(0, len(order), batch_size)
        if progress:
            from tqdm import tqdm

            batches = tqdm(batches, desc="Encoding", unit="batch")
        for start in batches:
            rows = order[start : start + batch_size]
            width = len(encodings[rows[-1]].ids)
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                n = len(encodings[i].ids)
                ids[r, :n], mask[r, :n] = encodings[i].ids, 1
            hidden, pooled = self._session.run(None, {"input_ids": ids, "attention_mask": mask})
            for r, i in enumerate(rows):
                if not tokens:
                    yield i, pooled[r], None
                    continue
                names = encodings[i].tokens[1:-1]  # without [CLS] and [SEP], as the torch backend
                yield i, pooled[r], TokenVectors(tuple(names), _unit(hidden[r, 1 : 1 + len(names)].copy()))


def _unit(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-12)
    return vectors


def _model_shape(path: Path) -> tuple[int, int]:
    """The model's token window and dimension; only mean pooling is exported."""
    try:
        limit = json.loads((path / "sentence_bert_config.json").read_text())["max_seq_length"]
        pooling = json.loads((path / "1_Pooling" / "config.json").read_text())
    except (OSError, KeyError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path} is not a sentence-transformers folder the ONNX backend can read ({exc}). "
                         "Set CRPS_QA_EMBED_BACKEND=torch.") from exc
    if not pooling.get("pooling_mode_mean_tokens") or not (path / "tokenizer.json").exists():
        raise ModelError(f"The ONNX backend runs mean-pooled models with a tokenizer.json; {path} is not one. "
                         "Set CRPS_QA_EMBED_BACKEND=torch.")
    return int(limit), int(pooling["word_embedding_dimension"])
