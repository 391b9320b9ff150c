"""Index-time token vectors: ``crps-qa index`` stores the word matcher's token vectors of every
sentence, so questions and the service's warm-up read them instead of encoding sentences."""

from __future__ import annotations

import json

import numpy as np
import pytest

from crps_qa.errors import IndexCorruptError
from crps_qa.index.build import build, is_stale
from crps_qa.index.manifest import current_build
from crps_qa.index.store import load_index
from crps_qa.pipeline import Pipeline
from crps_qa.settings import Settings
from fakes import SmallTokenEmbedder, analysed


@pytest.fixture
def embedder() -> SmallTokenEmbedder:
    return SmallTokenEmbedder()


def test_the_index_stores_token_vectors_of_every_distinct_sentence(tiny_settings, embedder):
    report = build(tiny_settings, embedder)
    data = load_index(tiny_settings.index_dir)
    table, sentences = data.tokens, data.sentences
    distinct = {(data.passages[int(r)].doc_id, int(a), int(b))
                for r, a, b in zip(sentences.rows, sentences.starts, sentences.ends, strict=True)}
    assert table is not None and len(table) == len(distinct) == report.tokens_encoded
    assert table.vectors.dtype == np.float16 and table.vectors.shape[1] == embedder.dimension
    for key in distinct:
        vectors = table.get(key)
        assert vectors is not None and len(vectors) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)


def test_questions_read_the_stored_vectors_and_encode_only_themselves(tiny_settings, embedder):
    build(tiny_settings, embedder)
    pipeline = Pipeline.open(tiny_settings, embedder=embedder)
    before = embedder.token_calls
    answer = pipeline.ask("What was the maximum infusion rate?")
    assert not answer.refused and "40 mg/h" in answer.answer
    titles = len(pipeline.data.documents)  # each paper's title line is encoded once, on first use
    assert embedder.token_calls - before == 1 + titles  # and the question; no sentence was encoded
    pipeline.ask("Did the skin temperature rise?")
    assert embedder.token_calls - before == 2 + titles


def test_stored_and_freshly_encoded_vectors_score_the_same(tiny_settings, embedder):
    build(tiny_settings, embedder)
    stored = Pipeline.open(tiny_settings, embedder=embedder)
    fresh = Pipeline.open(tiny_settings, embedder=embedder)
    fresh.retriever.matcher.stored = None  # as for an index built without the table
    question = "Did the skin temperature of the cold foot rise?"
    hits = stored.search(question, k=3)
    assert hits == fresh.search(question, k=3)
    units = [(h.doc_id, [(h.char_start, h.char_end)]) for h in hits]
    assert stored.answerer().match(analysed(stored, question), units) == pytest.approx(
        fresh.answerer().match(analysed(fresh, question), units), abs=1e-3)


def test_an_unchanged_corpus_reuses_the_token_vectors(tiny_settings, tiny_corpus, embedder):
    build(tiny_settings, embedder)
    assert build(tiny_settings, embedder).tokens_encoded == 0
    (tiny_corpus / "skin.txt").write_text("Skin after ketamine\n\nResults\n\nThe foot warmed by 3 degrees.",
                                          encoding="utf-8")
    changed = build(tiny_settings, embedder)
    assert 0 < changed.tokens_encoded < len(load_index(tiny_settings.index_dir).tokens)


def test_warm_up_has_nothing_to_encode(tiny_settings, embedder):
    build(tiny_settings, embedder)
    pipeline = Pipeline.open(tiny_settings, embedder=embedder)
    before = embedder.token_calls
    assert pipeline.warm() == 0 and embedder.token_calls - before == len(pipeline.data.documents)  # title lines


def test_without_query_expansion_the_table_is_not_used_and_answers_still_work(tiny_settings, embedder):
    build(tiny_settings, embedder)
    settings = Settings(**{**tiny_settings.model_dump(), "query_expansion": False})
    pipeline = Pipeline.open(settings, embedder=embedder)
    assert pipeline.retriever.matcher.stored is None
    assert "40 mg/h" in pipeline.ask("What was the maximum infusion rate?").answer


def test_token_vectors_wider_than_the_model_are_not_stored(tiny_settings, fake_embedder):
    build(tiny_settings, fake_embedder)  # FakeEmbedder: 65,536-wide one-hot token vectors
    assert load_index(tiny_settings.index_dir).tokens is None


def test_a_damaged_token_table_is_reported_with_the_fix(tiny_settings, embedder):
    build(tiny_settings, embedder)
    vectors = current_build(tiny_settings.index_dir) / "token_vectors.npy"
    np.save(vectors, np.zeros((3, embedder.dimension), dtype=np.float16))
    with pytest.raises(IndexCorruptError, match="crps-qa index --rebuild"):
        load_index(tiny_settings.index_dir)


def test_an_index_from_before_stored_token_vectors_is_stale_and_refreshed_cheaply(tiny_settings, embedder):
    build(tiny_settings, embedder)
    manifest_path = current_build(tiny_settings.index_dir) / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    del manifest["token_keys"]
    manifest_path.write_text(json.dumps(manifest))
    assert is_stale(tiny_settings) == "the index predates stored token vectors"
    calls = embedder.calls
    refreshed = build(tiny_settings, embedder)
    assert (refreshed.embedded, refreshed.sentences_embedded) == (0, 0)  # passage and sentence vectors reused
    assert embedder.calls - calls == refreshed.tokens_encoded  # one pass a sentence, for its token vectors
    assert is_stale(tiny_settings) is None
