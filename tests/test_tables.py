"""Corpus statistics counted at index time (index/tables.py) equal what opening a pipeline counted
before they were stored, and an index without them still opens."""

from __future__ import annotations

import math
import shutil
from dataclasses import replace

import numpy as np

from crps_qa.index.build import build
from crps_qa.index.store import load_index
from crps_qa.index.tables import CorpusTables, speller_counts, vocabulary
from crps_qa.pipeline import Pipeline
from crps_qa.query.analyzer import QueryAnalyzer
from crps_qa.search.late import WordMatcher
from crps_qa.search.stages import DocumentPrior, Run
from crps_qa.vocab import idf_from_df


def test_speller_counts_words_and_both_sides_of_each_abbreviation():
    counts = speller_counts(["Ketamine, ketamine and NRS.", "Pain"], [("NRS", "numeric rating scale")])
    assert counts == {"ketamine": 2, "and": 1, "nrs": 2, "pain": 1, "numeric": 1, "rating": 1, "scale": 1}


def test_vocabulary_keeps_hyphenated_words_and_their_parts():
    assert vocabulary(["S-ketamine relieved pain."]) == {"s-ketamine", "s", "ketamine", "relieved", "pain"}


def test_idf_from_document_frequencies():
    idf, unseen = idf_from_df({"ketamine": 2, "dose": 1}, 2)
    assert math.isclose(idf["ketamine"], math.log(3 / 2.5))
    assert math.isclose(idf["dose"], math.log(3 / 1.5))
    assert math.isclose(unseen, math.log(3 / 0.5))


def test_a_build_stores_the_tables_and_they_survive_a_reload(tiny_settings, fake_embedder):
    build(tiny_settings, fake_embedder)
    data = load_index(tiny_settings.index_dir)
    assert data.tables is not None
    recount = CorpusTables.build(data, word_pieces=fake_embedder.word_pieces)
    stored = data.tables
    assert stored.words == recount.words
    assert stored.vocabulary == recount.vocabulary
    assert stored.term_df == recount.term_df and stored.passages == len(data.passages)
    assert stored.piece_df == recount.piece_df
    assert stored.documents == recount.documents == tuple(data.texts)


def test_stored_tables_give_what_counting_at_open_gives(tiny_settings, fake_embedder):
    build(tiny_settings, fake_embedder)
    stored = load_index(tiny_settings.index_dir)
    counted = replace(stored, tables=None)
    with_tables = QueryAnalyzer(stored, fake_embedder, tiny_settings)
    without = QueryAnalyzer(counted, fake_embedder, tiny_settings)
    assert with_tables.idf() == without.idf()
    assert with_tables.speller == without.speller
    assert with_tables.coverage() == without.coverage()
    question = "ketamine infusion dose for chronic pain"
    query = with_tables.analyze(question, answer=True)
    assert query == without.analyze(question, answer=True)

    run = Run(depth=10, scores={row: 1.0 for row in range(len(stored.passages))})
    assert DocumentPrior(stored, 0.3)(query, run).scores == DocumentPrior(counted, 0.3)(query, run).scores
    assert (WordMatcher(stored, fake_embedder)._idf, WordMatcher(stored, fake_embedder)._unseen_idf) == (
        WordMatcher(counted, fake_embedder)._idf, WordMatcher(counted, fake_embedder)._unseen_idf)


def test_an_index_built_before_the_tables_still_opens_and_counts_them(tiny_settings, fake_embedder):
    build(tiny_settings, fake_embedder)
    expected = Pipeline.open(tiny_settings, fake_embedder).search("ketamine infusion")
    shutil.rmtree(tiny_settings.index_dir / "current" / "tables")
    pipeline = Pipeline.open(tiny_settings, fake_embedder)
    assert pipeline.data.tables is None
    assert [h.chunk_id for h in pipeline.search("ketamine infusion")] == [h.chunk_id for h in expected]
    assert np.allclose([h.score for h in pipeline.search("ketamine infusion")], [h.score for h in expected])
