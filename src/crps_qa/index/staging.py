"""Committed batches of a build in progress, so a killed ``crps-qa index`` resumes where it stopped.

Layout (inside ``index_dir/builds/``, beside the finished builds; ``_prune`` skips dot-folders)::

    .staging/fingerprint.json             model, dimension, chunking, batch size: another one wipes the stage
            /batch-000000/meta.json       the batch's documents (id, sha256, path, info, text, pages,
                                          sections), passages, and the cache keys of every vector
                         /vectors.npy     passage vectors, row i = passage i of the batch
                         /sentences.npz   sentence spans (passage row within the batch)
            /batch-000000/sentences-<expansions hash>/   the sentences' vectors, TokenTable and cache keys

A batch is written to ``batch-N.partial`` and renamed when complete, so a folder named
``batch-N`` is always whole; a sentences folder is written aside and renamed the same way. A batch is
reused on resume only when its documents and their hashes are the ones the corpus now puts in
that batch.

    stage = Stage.open(index_dir, fingerprint)
    stage.committed(3, docs)            # the batch's parts, or None to (re)compute it
    stage.commit(3, meta, arrays)
    stage.remove()                       # after the index is published
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from crps_qa.index.store import SentenceEncodings, TokenTable

log = logging.getLogger(__name__)

STAGING = ".staging"


class Stage:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @classmethod
    def open(cls, builds: Path, fingerprint: dict[str, Any]) -> Stage:
        """The stage under ``builds``: kept if made with the same ``fingerprint``, else emptied."""
        folder = builds / STAGING
        stamp = folder / "fingerprint.json"
        if folder.exists() and (not stamp.exists() or json.loads(stamp.read_text()) != fingerprint):
            shutil.rmtree(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for partial in folder.glob("*.partial"):
            shutil.rmtree(partial, ignore_errors=True) if partial.is_dir() else partial.unlink()
        _write(stamp, json.dumps(fingerprint, sort_keys=True).encode())
        return cls(folder)

    def batches(self) -> int:
        return sum(1 for p in self.folder.glob("batch-*") if p.is_dir() and not p.name.endswith(".partial"))

    def _batch(self, number: int) -> Path:
        return self.folder / f"batch-{number:06d}"

    def committed(self, number: int, documents: list[tuple[str, str]]) -> tuple[dict, dict[str, np.ndarray]] | None:
        """Batch ``number``'s (meta, arrays) if it was committed for these (doc_id, sha256) pairs."""
        folder = self._batch(number)
        if not (folder / "meta.json").exists():
            return None
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        if [tuple(d) for d in meta["sources"]] != [tuple(d) for d in documents]:
            return None
        arrays = {"vectors": np.load(folder / "vectors.npy")}
        with np.load(folder / "sentences.npz") as spans:
            arrays.update({name: np.asarray(spans[name]) for name in ("sentence_rows", "sentence_starts",
                                                                        "sentence_ends")})
        return meta, arrays

    def commit(self, number: int, meta: dict, arrays: dict[str, np.ndarray]) -> None:
        """Write batch ``number`` whole, or not at all."""
        final = self._batch(number)
        tmp = final.with_name(final.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(final, ignore_errors=True)  # a stale batch of other documents
        tmp.mkdir()
        np.save(tmp / "vectors.npy", arrays["vectors"])
        with open(tmp / "sentences.npz", "wb") as handle:
            np.savez(handle, **{name: arrays[name] for name in ("sentence_rows", "sentence_starts", "sentence_ends")})
        (tmp / "meta.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
        for path in tmp.iterdir():
            _fsync(path)
        os.replace(tmp, final)
        _fsync(self.folder)

    def sentences(self, number: int, expansions: str) -> SentenceEncodings | None:
        """Batch ``number``'s sentence vectors and token table, as computed under ``expansions``
        (nothing counted as encoded: it was, by the run that committed it)."""
        folder = self._batch(number) / f"sentences-{expansions}"
        if not (folder / "keys.json").exists():
            return None
        keys = json.loads((folder / "keys.json").read_text())
        table = TokenTable.load(folder) if keys["tokens"] is not None else None
        if keys["tokens"] is not None and table is None:
            return None
        return SentenceEncodings(np.load(folder / "vectors.npy"), keys["sentences"], table, keys["tokens"] or [], 0, 0)

    def commit_sentences(self, number: int, expansions: str, encodings: SentenceEncodings) -> None:
        final = self._batch(number) / f"sentences-{expansions}"
        tmp = final.with_name(final.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        if encodings.tokens is not None:
            encodings.tokens.save(tmp)
        np.save(tmp / "vectors.npy", np.asarray(encodings.vectors, dtype=np.float32))
        tokens = encodings.token_keys if encodings.tokens is not None else None
        (tmp / "keys.json").write_text(json.dumps({"sentences": encodings.keys, "tokens": tokens}))
        for path in tmp.iterdir():
            _fsync(path)
        os.replace(tmp, final)

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".partial")
    tmp.write_bytes(data)
    _fsync(tmp)
    os.replace(tmp, path)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Progress:
    """Documents done, passages/s and an ETA: logged per batch, and drawn as a bar when enabled.

    The rate counts only batches computed in this run (committed ones load in a moment), e.g.
    600 of 1,000 documents done, 300 of them computed in 100 s: 3 documents/s, ETA 400 / 3 = 133 s."""

    def __init__(self, documents: int, *, enabled: bool) -> None:
        self.total, self.done, self.computed, self.passages = documents, 0, 0, 0
        self.started = time.perf_counter()
        self._bar = None
        if enabled:
            from tqdm import tqdm

            self._bar = tqdm(total=documents, unit="doc", desc="indexing")

    def advance(self, documents: int, passages: int, *, fresh: bool) -> None:
        self.done += documents
        if fresh:
            self.computed += documents
            self.passages += passages
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        rate = self.computed / elapsed
        eta = (self.total - self.done) / rate if rate > 0 else 0.0
        log.info("indexed %d/%d documents (%s), %.1f passages/s, ETA %.0f s", self.done, self.total,
                 "embedded" if fresh else "committed before", self.passages / elapsed, eta)
        if self._bar is not None:
            self._bar.update(documents)
            self._bar.set_postfix(passages_per_s=f"{self.passages / elapsed:.1f}", eta_s=f"{eta:.0f}")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
