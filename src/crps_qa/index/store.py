"""The on-disk index: FAISS vectors + BM25 + passages + cleaned texts + a manifest.

Layout (``index_dir``)::

    current -> builds/20261122T101500-ab12      symlink, swapped atomically after a build
    builds/<build id>/manifest.json             format, model, dimension, chunking, hashes, counts
                     /documents.json            metadata + cleaned text + pages + sections
                     /passages.jsonl            one Passage per line; line i is vector row i
                     /dense.faiss               IndexFlatIP over unit vectors (inner product = cosine)
                     /sentences.npz             every passage's sentences: passage row, span, unit vector
                     /token_index.npz           every distinct sentence's span and where its token vectors are ...
                     /token_vectors.npy         ... float16, one per word piece (TokenTable; optional)
                     /bm25/                     bm25s files

A build is written to a fresh folder and only then made ``current``, so a crash or Ctrl-C
mid-build leaves the previous index loadable. Vectors of passages whose text did not change are
reused from the previous build (keyed by a hash of model + embedded text).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from crps_qa.errors import REBUILD_HINT, IndexCorruptError
from crps_qa.index.lexical import Bm25Index
from crps_qa.index.manifest import CURRENT, check_compatible, current_build, read_manifest
from crps_qa.types import CleanDocument, DocumentInfo, Passage, Section

log = logging.getLogger(__name__)

BUILDS = "builds"
KEEP_BUILDS = 2  # the new build and the one before it (a reader may still be loading it)


@dataclass(frozen=True)
class SentenceTable:
    """The sentences of every passage, embedded one by one (for re-scoring and answers).

    Row j is the sentence ``text[starts[j]:ends[j]]`` of document ``passages[rows[j]].doc_id``,
    with unit vector ``vectors[j]``. A sentence shared by two overlapping passages appears once
    per passage (its vector is computed once and reused)."""

    rows: np.ndarray  # int64 passage row of each sentence
    starts: np.ndarray  # int64 char_start in the cleaned document text
    ends: np.ndarray  # int64 char_end
    vectors: np.ndarray  # float32 (n, dimension)

    @classmethod
    def empty(cls, dimension: int) -> SentenceTable:
        none = np.zeros(0, dtype=np.int64)
        return cls(none, none, none, np.zeros((0, dimension), dtype=np.float32))

    def __len__(self) -> int:
        return len(self.rows)

    def save(self, path: Path) -> None:
        with open(path, "wb") as handle:
            np.savez(handle, rows=self.rows, starts=self.starts, ends=self.ends, vectors=self.vectors)

    @classmethod
    def load(cls, path: Path) -> SentenceTable:
        with np.load(path) as arrays:
            return cls(*(np.asarray(arrays[name]) for name in ("rows", "starts", "ends", "vectors")))


class TokenTable:
    """Token vectors of every distinct sentence, computed at index time: what the word-by-word
    matcher (:mod:`crps_qa.search.late`) would otherwise encode on first use.

    Sentence i is ``(doc_ids[i], starts[i], ends[i])``; its vectors (one unit vector per word
    piece of the sentence as the matcher reads it) are ``vectors[offsets[i]:offsets[i + 1]]``,
    stored as float16 and memory-mapped when loaded, so a large corpus costs disk, not memory."""

    def __init__(self, doc_ids: Sequence[str], starts: np.ndarray, ends: np.ndarray, offsets: np.ndarray,
                 vectors: np.ndarray) -> None:
        self.doc_ids = tuple(doc_ids)
        self.starts, self.ends, self.offsets, self.vectors = starts, ends, offsets, vectors
        self._row = {(d, int(a), int(b)): i for i, (d, a, b) in enumerate(zip(self.doc_ids, starts, ends, strict=True))}

    @classmethod
    def of(cls, keys: Sequence[tuple[str, int, int]], vectors: Sequence[np.ndarray], dimension: int) -> TokenTable:
        """From sentence keys and each sentence's (tokens, dimension) vectors."""
        offsets = np.zeros(len(keys) + 1, dtype=np.int64)
        offsets[1:] = np.cumsum([len(v) for v in vectors])
        stacked = (np.concatenate(vectors) if len(vectors) else np.zeros((0, dimension))).astype(np.float16)
        return cls([k[0] for k in keys], np.asarray([k[1] for k in keys], dtype=np.int64),
                   np.asarray([k[2] for k in keys], dtype=np.int64), offsets, stacked.reshape(-1, dimension))

    def __len__(self) -> int:
        return len(self.doc_ids)

    def __contains__(self, key: object) -> bool:
        return key in self._row

    def get(self, key: tuple[str, int, int]) -> np.ndarray | None:
        """The sentence's token vectors as float32, or None when the table does not have it."""
        i = self._row.get(key)
        return None if i is None else np.asarray(self.vectors[self.offsets[i] : self.offsets[i + 1]], np.float32)

    def save(self, folder: Path) -> None:
        np.save(folder / "token_vectors.npy", self.vectors)
        with open(folder / "token_index.npz", "wb") as handle:
            np.savez(handle, doc_ids=np.asarray(self.doc_ids, dtype=str), starts=self.starts, ends=self.ends,
                     offsets=self.offsets)

    @classmethod
    def load(cls, folder: Path) -> TokenTable | None:
        """The build's table, or None for a build without one (made by an embedder without token vectors)."""
        if not (folder / "token_index.npz").exists():
            return None
        with np.load(folder / "token_index.npz") as arrays:
            index = {name: np.asarray(arrays[name]) for name in ("doc_ids", "starts", "ends", "offsets")}
        vectors = np.load(folder / "token_vectors.npy", mmap_mode="r")
        if len(index["offsets"]) != len(index["doc_ids"]) + 1 or index["offsets"][-1] != len(vectors):
            raise ValueError(f"token table has {len(vectors)} vectors, its index expects {index['offsets'][-1]}")
        return cls([str(d) for d in index["doc_ids"]], index["starts"], index["ends"], index["offsets"], vectors)


@dataclass
class IndexData:
    """Everything a build produces, in memory. Row i of ``vectors`` is ``passages[i]``."""

    manifest: dict[str, Any]
    documents: dict[str, DocumentInfo]
    texts: dict[str, CleanDocument]
    passages: list[Passage]
    vectors: np.ndarray
    dense: faiss.Index = field(repr=False)
    bm25: Bm25Index = field(repr=False)
    expansions: list[tuple[str, str]] = field(default_factory=list)  # (abbreviation/variant, other form)
    path: Path | None = None
    sentences: SentenceTable | None = field(default=None, repr=False)  # None: no sentence re-scoring
    tokens: TokenTable | None = field(default=None, repr=False)  # None: token vectors encoded on first use

    @property
    def build_id(self) -> str:
        return str(self.manifest["build_id"])

    @cached_property
    def row_of(self) -> dict[str, int]:
        """Passage row of each chunk id (built on first use; the passages of a build never change)."""
        return {passage.chunk_id: row for row, passage in enumerate(self.passages)}

    @cached_property
    def sentence_ids(self) -> list[np.ndarray]:
        """For each passage row, the ids of its sentences in ``sentences``, in text order (empty when
        the index has no sentence table)."""
        empty = np.zeros(0, dtype=np.int64)
        table = self.sentences
        if table is None or not len(table):
            return [empty] * len(self.passages)
        order = np.argsort(table.rows, kind="stable")
        bounds = np.searchsorted(table.rows[order], np.arange(len(self.passages) + 1))
        return [order[bounds[r] : bounds[r + 1]] for r in range(len(self.passages))]


def vector_key(model: str, text: str) -> str:
    """Cache key of one embedded text under one model."""
    return hashlib.sha256(f"{model}\0{text}".encode()).hexdigest()


def make_dense(vectors: np.ndarray) -> faiss.Index:
    index = faiss.IndexFlatIP(vectors.shape[1])
    if len(vectors):
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


# ---------------------------------------------------------------------------- writing


@contextlib.contextmanager
def build_lock(index_dir: Path) -> Iterator[None]:
    """One build at a time per index folder (a second ``crps-qa index`` waits)."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def save_index(data: IndexData, index_dir: Path) -> Path:
    """Write ``data`` as a new build and atomically make it current. Returns the build folder."""
    builds = index_dir / BUILDS
    builds.mkdir(parents=True, exist_ok=True)
    final = builds / data.build_id
    tmp = builds / f".{data.build_id}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        faiss.write_index(data.dense, str(tmp / "dense.faiss"))
        data.bm25.save(tmp / "bm25")
        with open(tmp / "passages.jsonl", "w", encoding="utf-8") as out:
            for passage in data.passages:
                out.write(json.dumps(passage.to_dict(), ensure_ascii=False) + "\n")
        docs = {
            doc_id: {
                "info": info.to_dict(),
                "text": data.texts[doc_id].text,
                "page_starts": list(data.texts[doc_id].page_starts),
                "sections": [[s.start, s.title] for s in data.texts[doc_id].sections],
            }
            for doc_id, info in data.documents.items()
        }
        (tmp / "documents.json").write_text(json.dumps(docs, ensure_ascii=False), encoding="utf-8")
        if data.sentences is not None:
            data.sentences.save(tmp / "sentences.npz")
        if data.tokens is not None:
            data.tokens.save(tmp)
        (tmp / "expansions.json").write_text(json.dumps(data.expansions, ensure_ascii=False), encoding="utf-8")
        # The manifest goes last: a folder without one is never a complete build.
        (tmp / "manifest.json").write_text(json.dumps(data.manifest, indent=2), encoding="utf-8")
        _fsync_tree(tmp)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    link_tmp = index_dir / f".{CURRENT}.{os.getpid()}"
    with contextlib.suppress(FileNotFoundError):
        link_tmp.unlink()
    link_tmp.symlink_to(Path(BUILDS) / data.build_id)
    os.replace(link_tmp, index_dir / CURRENT)  # atomic on POSIX: readers see old or new
    _prune(builds, keep=data.build_id)
    return final


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())


def _prune(builds: Path, keep: str) -> None:
    done = sorted((p for p in builds.iterdir() if not p.name.startswith(".")), key=lambda p: p.name)
    for old in done[:-KEEP_BUILDS]:
        if old.name != keep:
            shutil.rmtree(old, ignore_errors=True)


def new_build_id() -> str:
    now = datetime.now(UTC)
    return now.strftime("%Y%m%dT%H%M%S") + f"-{now.microsecond:06d}"


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# ---------------------------------------------------------------------------- reading

def load_index(index_dir: Path, *, model: str | None = None, dimension: int | None = None) -> IndexData:
    """Load the current build of ``index_dir``; refuse a missing, corrupt or incompatible one."""
    manifest = read_manifest(index_dir)
    check_compatible(manifest, index_dir, model=model, dimension=dimension)
    build = current_build(index_dir)
    try:
        dense = faiss.read_index(str(build / "dense.faiss"))
        docs = json.loads((build / "documents.json").read_text(encoding="utf-8"))
        with open(build / "passages.jsonl", encoding="utf-8") as lines:
            passages = [Passage(**json.loads(line)) for line in lines if line.strip()]
        bm25 = Bm25Index.load(build / "bm25", size=len(passages))
        expansions = [(a, b) for a, b in json.loads((build / "expansions.json").read_text(encoding="utf-8"))]
        sentences = SentenceTable.load(build / "sentences.npz")
        tokens = TokenTable.load(build)
    except Exception as exc:  # noqa: BLE001 - any unreadable part means the same thing
        raise IndexCorruptError(
            f"The index in {build} is damaged ({type(exc).__name__}: {exc}). "
            f"Rebuild it with: {REBUILD_HINT} --index {index_dir}"
        ) from exc
    if (
        dense.ntotal != len(passages)
        or manifest.get("counts", {}).get("passages") != len(passages)
        or manifest.get("counts", {}).get("sentences") != len(sentences)
        or (len(sentences) and sentences.vectors.shape[1] != dense.d)
        or (tokens is not None and tokens.vectors.shape[1] != dense.d)
    ):
        raise IndexCorruptError(
            f"The index in {build} is inconsistent ({dense.ntotal} vectors, {len(passages)} passages, "
            f"{len(sentences)} sentences). "
            f"Rebuild it with: {REBUILD_HINT} --index {index_dir}"
        )
    texts = {
        doc_id: CleanDocument(
            doc_id=doc_id,
            text=d["text"],
            page_starts=tuple(d["page_starts"]),
            sections=tuple(Section(start, title) for start, title in d["sections"]),
        )
        for doc_id, d in docs.items()
    }
    documents = {doc_id: DocumentInfo(**d["info"]) for doc_id, d in docs.items()}
    vectors = dense.reconstruct_n(0, dense.ntotal) if dense.ntotal else np.zeros((0, dense.d), np.float32)
    return IndexData(
        manifest, documents, texts, passages, vectors, dense, bm25, expansions, path=build, sentences=sentences,
        tokens=tokens,
    )
