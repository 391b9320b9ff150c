"""Passages are read on demand from the memory-mapped passages.jsonl (index/passages.py): the same
records as parsing every line, document codes without parsing, and a clear error when damaged."""

from __future__ import annotations

import numpy as np
import pytest

from crps_qa.errors import IndexCorruptError
from crps_qa.index.build import build
from crps_qa.index.passages import OFFSETS, ChunkRows, PassageTable, read_passages, write_passages
from crps_qa.index.store import load_index
from crps_qa.types import Passage


def _passages() -> list[Passage]:
    return [
        Passage("a#1", "a", "Ketamine 0.35 mg/kg/h.", 0, 22, section="Methods", page=2),
        Passage("b#1", "b", "Pain fell from 7 to 3 — NRS.", 0, 28, role="table"),
        Passage("a#2", "a", "Follow-up at 12 weeks.", 23, 45),
    ]


def test_a_table_reads_the_same_passages_as_parsing_every_line(tmp_path):
    passages = _passages()
    write_passages(passages, ["a", "b"], tmp_path)
    table = PassageTable.open(tmp_path, ["a", "b"])
    assert table is not None and len(table) == 3
    assert list(table) == passages == read_passages(tmp_path)
    assert table[-1] == passages[2] and table[0:2] == passages[0:2]
    assert table.doc_codes.tolist() == [0, 1, 0]
    with pytest.raises(IndexError, match="out of range"):
        table[3]


def test_chunk_rows_finds_a_passage_among_its_documents_rows(tmp_path):
    write_passages(_passages(), ["a", "b"], tmp_path)
    table = PassageTable.open(tmp_path, ["a", "b"])
    rows = ChunkRows(table, {"a": np.array([0, 2]), "b": np.array([1])})
    assert rows["a#2"] == 2 and rows.get("b#1") == 1
    assert rows.get("a#9") is None and rows.get("c#1") is None
    assert dict(rows) == {"a#1": 0, "b#1": 1, "a#2": 2}


def test_a_load_reads_passages_on_demand_and_counts_them_by_document(tiny_settings, fake_embedder):
    build(tiny_settings, fake_embedder)
    data = load_index(tiny_settings.index_dir)
    assert isinstance(data.passages, PassageTable)
    eager = read_passages(tiny_settings.index_dir / "current")
    assert list(data.passages) == eager
    counts = {}
    for p in eager:
        counts[p.doc_id] = counts.get(p.doc_id, 0) + 1
    assert data.passage_counts() == counts
    assert all(data.row_of[p.chunk_id] == row for row, p in enumerate(eager))


def test_a_build_without_the_line_index_still_loads(tiny_settings, fake_embedder):
    build(tiny_settings, fake_embedder)
    (tiny_settings.index_dir / "current" / OFFSETS).unlink()
    data = load_index(tiny_settings.index_dir)
    assert isinstance(data.passages, list) and len(data.passages) == data.dense.ntotal


def test_a_line_index_that_does_not_match_the_file_is_a_damaged_index(tiny_settings, fake_embedder):
    build(tiny_settings, fake_embedder)
    with open(tiny_settings.index_dir / "current" / "passages.jsonl", "ab") as handle:
        handle.write(b"{}\n")
    with pytest.raises(IndexCorruptError, match="damaged.*crps-qa index"):
        load_index(tiny_settings.index_dir)
