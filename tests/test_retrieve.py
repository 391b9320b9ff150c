"""Search over a tiny indexed corpus with the fake embedder: modes, k, filters and input checks."""

import pytest

from crps_qa.errors import NotFoundError, QueryError
from crps_qa.indexer import build
from crps_qa.pipeline import Pipeline


@pytest.fixture
def pipeline(tiny_settings, fake_embedder) -> Pipeline:
    build(tiny_settings, fake_embedder)
    return Pipeline.open(tiny_settings, embedder=fake_embedder)


@pytest.mark.parametrize("mode", ["hybrid", "dense", "bm25"])
def test_each_mode_ranks_the_answering_passage_first(pipeline, mode):
    hits = pipeline.search("maximum infusion rate", k=3, mode=mode)
    assert "maximum infusion rate was 40 mg/h" in hits[0].text
    assert [h.rank for h in hits] == list(range(1, len(hits) + 1))
    assert all(a.score >= b.score for a, b in zip(hits, hits[1:]))


def test_hits_carry_full_citations(pipeline):
    hit = pipeline.search("skin temperature of the foot", k=1)[0]
    text = pipeline.data.texts[hit.doc_id].text
    assert text[hit.char_start : hit.char_end] == hit.text
    assert (hit.doc_id, hit.title, hit.section, hit.page) == ("skin", "Skin temperature after ketamine", "Case Report", None)
    assert set(hit.to_dict()) == {"rank", "score", "doc_id", "title", "section", "page", "char_start", "char_end", "chunk_id", "text"}


def test_k_limits_the_number_of_hits(pipeline):
    assert len(pipeline.search("ketamine", k=1)) == 1


def test_document_filter_keeps_only_that_document(pipeline):
    hits = pipeline.search("ketamine infusion", k=10, doc_ids=["skin"])
    assert hits and {h.doc_id for h in hits} == {"skin"}


def test_bm25_returns_nothing_for_words_it_has_never_seen(pipeline):
    assert pipeline.search("xylophone", mode="bm25") == []


@pytest.mark.parametrize(
    ("query", "kwargs", "message"),
    [
        ("", {}, "empty"),
        ("   \n ", {}, "empty"),
        ("x" * 1001, {}, "limit is 1000"),
        ("dose", {"k": 0}, "between 1 and 50"),
        ("dose", {"k": 51}, "between 1 and 50"),
        ("dose", {"mode": "semantic"}, "hybrid, dense, bm25"),
    ],
)
def test_bad_requests_are_refused_with_a_reason(pipeline, query, kwargs, message):
    with pytest.raises(QueryError, match=message):
        pipeline.search(query, **kwargs)


def test_unknown_document_filter_is_not_found(pipeline):
    with pytest.raises(NotFoundError, match="nope"):
        pipeline.search("dose", doc_ids=["nope"])


def test_pipeline_picks_up_a_new_build(pipeline, tiny_settings, fake_embedder):
    assert pipeline.reload_if_changed() is False
    (tiny_settings.corpus_dir / "extra.txt").write_text("Results\n\nMagnesium was also given.", encoding="utf-8")
    build(tiny_settings, fake_embedder)
    assert pipeline.reload_if_changed() is True
    assert pipeline.search("magnesium", k=1, mode="bm25")[0].doc_id == "extra"
