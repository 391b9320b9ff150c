"""The passages of a build, read on demand from the memory-mapped passages.jsonl.

    write_passages(passages, doc_ids, build)          # passages.jsonl + passage_lines.npy + passage_docs.npy
    table = PassageTable.open(build, doc_ids)          # None for a build written before the line index
    table[7]                                           # a Passage, parsed when asked for
    table.doc_codes                                    # row -> position of its document in ``doc_ids``

Parsing a million JSON lines into Passage records took about 11 s at every load; a query reads a
few hundred passages. So the line file stays what it was (one Passage per line, line i is vector
row i) and two arrays beside it say where each line starts and which document it belongs to: a
load maps the file and reads the arrays, and whatever needs every passage's document (filters, the
document prior, passage counts) reads ``doc_codes`` instead of parsing every line.
"""

from __future__ import annotations

import json
import mmap
import operator
from collections.abc import Iterator, Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import overload

import numpy as np
import orjson

from crps_qa.types import Passage

LINES = "passages.jsonl"
OFFSETS = "passage_lines.npy"  # int64 byte offset of each line, and the file's length
DOCS = "passage_docs.npy"  # int32 position of each passage's document among the build's documents


def write_passages(passages: Sequence[Passage], doc_ids: Sequence[str], folder: Path) -> None:
    """Write ``passages`` one JSON line each, with the line offsets and document codes beside them."""
    position = {doc_id: i for i, doc_id in enumerate(doc_ids)}
    offsets = np.zeros(len(passages) + 1, dtype=np.int64)
    codes = np.zeros(len(passages), dtype=np.int32)
    with open(folder / LINES, "wb") as out:
        for row, passage in enumerate(passages):
            line = (json.dumps(passage.to_dict(), ensure_ascii=False) + "\n").encode("utf-8")
            out.write(line)
            offsets[row + 1] = offsets[row] + len(line)
            codes[row] = position.get(passage.doc_id, -1)
    np.save(folder / OFFSETS, offsets)
    np.save(folder / DOCS, codes)


def read_passages(folder: Path) -> list[Passage]:
    """Every passage of ``folder`` parsed now (a build written before the line index)."""
    with open(folder / LINES, "rb") as lines:
        return [Passage(**orjson.loads(line)) for line in lines if line.strip()]


class PassageTable(Sequence[Passage]):
    """Read-only and thread-safe: row i is line i of passages.jsonl, parsed when it is asked for."""

    def __init__(self, path: Path, offsets: np.ndarray, doc_codes: np.ndarray, doc_ids: Sequence[str]) -> None:
        self._offsets = offsets
        self.doc_codes = doc_codes
        self.doc_ids = list(doc_ids)
        with open(path, "rb") as handle:
            size = handle.seek(0, 2)
            self._map = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
        if int(offsets[-1]) != size or len(doc_codes) != len(offsets) - 1:
            raise ValueError(f"{path.name} does not match its line index ({size} bytes, index says {int(offsets[-1])})")

    @classmethod
    def open(cls, folder: Path, doc_ids: Sequence[str]) -> PassageTable | None:
        """The table of ``folder``, or None when it has no line index (read it with read_passages)."""
        if not (folder / OFFSETS).exists():
            return None
        return cls(folder / LINES, np.load(folder / OFFSETS), np.load(folder / DOCS), doc_ids)

    def __len__(self) -> int:
        return len(self._offsets) - 1

    @overload
    def __getitem__(self, row: int) -> Passage: ...
    @overload
    def __getitem__(self, row: slice) -> list[Passage]: ...
    def __getitem__(self, row: int | slice) -> Passage | list[Passage]:
        if isinstance(row, slice):
            return [self[i] for i in range(*row.indices(len(self)))]
        row = operator.index(row)
        if row < 0:
            row += len(self)
        if not 0 <= row < len(self):
            raise IndexError(f"passage row {row} out of range ({len(self)} passages)")
        return Passage(**orjson.loads(self._map[self._offsets[row] : self._offsets[row + 1]]))

    def __iter__(self) -> Iterator[Passage]:
        for row in range(len(self)):
            yield self[row]


class ChunkRows(Mapping[str, int]):
    """chunk id → passage row, looked up among its document's rows (a chunk id is "doc_id#hash");
    a full table is built only when iterated or for an id of another form."""

    def __init__(self, passages: Sequence[Passage], rows_of_doc: Mapping[str, np.ndarray]) -> None:
        self._passages, self._rows_of_doc = passages, rows_of_doc

    def __getitem__(self, chunk_id: str) -> int:
        doc_id = chunk_id.rsplit("#", 1)[0]
        for row in self._rows_of_doc.get(doc_id, ()):
            if self._passages[int(row)].chunk_id == chunk_id:
                return int(row)
        if "#" in chunk_id:
            raise KeyError(chunk_id)
        return self._all[chunk_id]

    @cached_property
    def _all(self) -> dict[str, int]:
        return {passage.chunk_id: row for row, passage in enumerate(self._passages)}

    def __iter__(self) -> Iterator[str]:
        return iter(self._all)

    def __len__(self) -> int:
        return len(self._passages)


class RowSlices(Sequence[np.ndarray]):
    """``slices[r]``: the ids of row r's items, for items sorted by row (``order``) with ``bounds``
    from searchsorted: one array for all rows instead of a million small ones."""

    def __init__(self, order: np.ndarray, bounds: np.ndarray) -> None:
        self._order, self._bounds = order, bounds

    def __len__(self) -> int:
        return len(self._bounds) - 1

    def __getitem__(self, row):  # noqa: ANN001, ANN204 - an int row (slices are not needed)
        return self._order[self._bounds[row] : self._bounds[row + 1]]


def doc_codes(passages: Sequence[Passage], doc_ids: Sequence[str]) -> np.ndarray:
    """Position in ``doc_ids`` of each passage's document (-1 for one not among them)."""
    if isinstance(passages, PassageTable) and passages.doc_ids == list(doc_ids):
        return passages.doc_codes
    position = {doc_id: i for i, doc_id in enumerate(doc_ids)}
    return np.asarray([position.get(p.doc_id, -1) for p in passages], dtype=np.int32)
