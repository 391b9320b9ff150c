"""The on-disk index: FAISS vectors + BM25 + passages + cleaned texts + a manifest.

Layout (``index_dir``)::

    current -> builds/20261122T101500-ab12      symlink, swapped atomically after a build
    builds/<build id>/manifest.json             format, model, dimension, chunking, hashes, counts
                     /documents.json            metadata + cleaned text + pages + sections
                     /passages.jsonl            one Passage per line; line i is vector row i
                     /passage_lines.npy         ... where each line starts, and each passage's document
                     /passage_docs.npy              (index/passages.py: passages are read on demand)
                     /dense.faiss               unit vectors (inner product = cosine): IndexFlatIP, or HNSW/IVF
                                                above a size (index/ann.py; manifest "dense" says which)
                     /vectors.npy               the passage vectors again, memory-mapped on load
                     /sentences.npz             every passage's sentences: passage row, span ...
                     /sentence_vectors.npy      ... and unit vector (memory-mapped on load)
                     /token_index.npz           every distinct sentence's span and where its token vectors are ...
                     /token_codes.npy           ... product-quantized, one row per word piece (index/tokens.py;
                     /token_codebook.npy            token_vectors.npy, float16, for a small corpus; optional)
                     /bm25/                     bm25s files
                     /tables/                   corpus statistics for the query side (index/tables.py):
                                                word counts, vocabulary, term DFs, the documents' BM25

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
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import orjson

from crps_qa.errors import REBUILD_HINT, IndexCorruptError
from crps_qa.index.ann import build_dense, read_dense, read_vectors, write_dense
from crps_qa.index.lexical import Bm25Index
from crps_qa.index.manifest import CURRENT, check_compatible, current_build, read_manifest
from crps_qa.index.passages import ChunkRows, PassageTable, RowSlices, doc_codes, read_passages, write_passages
from crps_qa.index.tables import CorpusTables
from crps_qa.index.tokens import TokenTable
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
        # scale (issue 14): vectors in their own .npy beside ``path``, so loading can memory-map them
        with open(path, "wb") as handle:
            np.savez(handle, rows=self.rows, starts=self.starts, ends=self.ends)
        np.save(path.with_name("sentence_vectors.npy"), np.ascontiguousarray(self.vectors, dtype=np.float32))

    @classmethod
    def load(cls, path: Path) -> SentenceTable:
        with np.load(path) as arrays:
            spans = [np.asarray(arrays[name]) for name in ("rows", "starts", "ends")]
            if "vectors" in arrays:  # written before the vectors had their own file
                return cls(*spans, np.asarray(arrays["vectors"]))
        return cls(*spans, np.load(path.with_name("sentence_vectors.npy"), mmap_mode="r"))


@dataclass(frozen=True)
class SentenceEncodings:
    """What the sentence stages read of some sentences: a vector per sentence row and the word
    matcher's token table, with their cache keys and how many texts were encoded for each."""

    vectors: np.ndarray  # row i: sentence row i of the index's SentenceTable
    keys: list[str]  # each row's vector cache key (the sentence's text)
    tokens: TokenTable | None  # None: the embedder has no token vectors of its dimension
    token_keys: list[str]  # each table sentence's cache key (the text the matcher reads)
    embedded: int  # sentence vectors computed
    tokens_encoded: int  # sentences whose token vectors were computed


@dataclass
class IndexData:
    """Everything a build produces, in memory. Row i of ``vectors`` is ``passages[i]``."""

    manifest: dict[str, Any]
    documents: dict[str, DocumentInfo]
    texts: dict[str, CleanDocument]
    passages: Sequence[Passage]  # a list, or a PassageTable read on demand (index/passages.py)
    vectors: np.ndarray
    dense: faiss.Index = field(repr=False)
    bm25: Bm25Index = field(repr=False)
    expansions: list[tuple[str, str]] = field(default_factory=list)  # (abbreviation/variant, other form)
    path: Path | None = None
    sentences: SentenceTable | None = field(default=None, repr=False)  # None: no sentence re-scoring
    tokens: TokenTable | None = field(default=None, repr=False)  # None: token vectors encoded on first use
    tables: CorpusTables | None = field(default=None, repr=False)  # None: counted when a pipeline opens

    @property
    def build_id(self) -> str:
        return str(self.manifest["build_id"])

    @cached_property
    def row_of(self) -> Mapping[str, int]:
        """Passage row of each chunk id (the passages of a build never change)."""
        return ChunkRows(self.passages, self.rows_of_doc)

    @cached_property
    def doc_codes(self) -> np.ndarray:
        """Position in ``documents`` of each passage's document (-1: none), without parsing passages."""
        return doc_codes(self.passages, list(self.documents))

    @cached_property
    def rows_of_doc(self) -> dict[str, np.ndarray]:
        """The passage rows of each document, in order."""
        codes = self.doc_codes
        order = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order], np.arange(len(self.documents) + 1))
        rows = {d: order[bounds[i] : bounds[i + 1]].astype(np.int64) for i, d in enumerate(self.documents)}
        for row in np.flatnonzero(codes < 0):  # a passage of a document with no record (not from a build)
            doc_id = self.passages[int(row)].doc_id
            rows[doc_id] = np.append(rows.get(doc_id, np.zeros(0, np.int64)), row)
        return rows

    @cached_property
    def sentence_ids(self) -> RowSlices:
        """For each passage row, the ids of its sentences in ``sentences``, in text order (empty when
        the index has no sentence table)."""
        rows = self.sentences.rows if self.sentences is not None else np.zeros(0, dtype=np.int64)
        order = np.argsort(rows, kind="stable")
        return RowSlices(order, np.searchsorted(rows[order], np.arange(len(self.passages) + 1)))

    def passage_counts(self) -> dict[str, int]:
        """How many passages each document has."""
        return {doc_id: len(rows) for doc_id, rows in self.rows_of_doc.items()}


def vector_key(model: str, text: str) -> str:
    """Cache key of one embedded text under one model."""
    return hashlib.sha256(f"{model}\0{text}".encode()).hexdigest()


def make_dense(vectors: np.ndarray, *, exact_below: int | None = None) -> faiss.Index:
    """The dense index of ``vectors``: exact, or HNSW/IVF from ``exact_below`` rows (see index/ann.py;
    ``build_dense`` also reports the measured recall, for the manifest)."""
    return build_dense(vectors, exact_below=len(vectors) + 1 if exact_below is None else exact_below)[0]


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
        write_dense(data.dense, tmp / "dense.faiss")
        np.save(tmp / "vectors.npy", np.ascontiguousarray(data.vectors, dtype=np.float32))  # scale: mmap on load
        data.bm25.save(tmp / "bm25")
        write_passages(data.passages, list(data.documents), tmp)
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
        (data.tables or CorpusTables.build(data)).save(tmp / "tables")
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

def load_index(index_dir: Path, *, model: str | None = None, dimension: int | None = None,
               backend: str | None = None) -> IndexData:
    """Load the current build of ``index_dir``; refuse a missing, corrupt or incompatible one."""
    manifest = read_manifest(index_dir)
    check_compatible(manifest, index_dir, model=model, dimension=dimension, backend=backend)
    build = current_build(index_dir)
    try:
        dense = read_dense(build / "dense.faiss", index_type=manifest.get("dense", {}).get("index_type", "flat"))
        vectors = read_vectors(build / "vectors.npy", dense)
        docs = orjson.loads((build / "documents.json").read_bytes())
        passages = PassageTable.open(build, list(docs))  # read on demand; None for an older build:
        if passages is None:
            passages = read_passages(build)  # every passage parsed now
        bm25 = Bm25Index.load(build / "bm25", size=len(passages))
        expansions = [(a, b) for a, b in json.loads((build / "expansions.json").read_text(encoding="utf-8"))]
        sentences = SentenceTable.load(build / "sentences.npz")
        tokens = TokenTable.load(build)
        tables = CorpusTables.load(build / "tables")
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
        or (tokens is not None and tokens.dimension != dense.d)
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
    documents = {doc_id: DocumentInfo.from_dict(d["info"]) for doc_id, d in docs.items()}
    return IndexData(
        manifest, documents, texts, passages, vectors, dense, bm25, expansions, path=build, sentences=sentences,
        tokens=tokens, tables=tables,
    )

