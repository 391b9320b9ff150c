"""Search over a tiny indexed corpus with the fake embedder: modes, k, filters and input checks."""

import numpy as np
import pytest

from crps_qa.errors import NotFoundError, QueryError
from crps_qa.index.build import build
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
    assert all(a.score >= b.score for a, b in zip(hits, hits[1:], strict=False))


def test_hits_carry_full_citations(pipeline):
    hit = pipeline.search("skin temperature of the foot", k=1)[0]
    text = pipeline.data.texts[hit.doc_id].text
    assert text[hit.char_start : hit.char_end] == hit.text
    assert (hit.doc_id, hit.title, hit.section, hit.page) == (
        "skin", "Skin temperature after ketamine", "Case Report", None,
    )
    assert set(hit.to_dict()) == {
        "rank", "score", "doc_id", "title", "section", "page", "page_end", "char_start", "char_end", "chunk_id",
        "text", "role",
    }
    assert hit.role == "body"


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


def _rescoring_stage(sentence_weight: float, rescore_depth: int = 30):
    """Three one-sentence passages whose sentences have cosine 0.40 / 0.70 / 0.55 with [1, 0]."""
    from crps_qa.index.lexical import Bm25Index
    from crps_qa.index.store import IndexData, SentenceTable, make_dense
    from crps_qa.search.stages import SentenceRescore
    from crps_qa.types import Passage

    passages = [Passage(f"d#{i}", "d", f"p{i}", 0, 2) for i in range(3)]
    cosines = [0.40, 0.70, 0.55]  # best sentence of each passage
    vectors = np.array([[c, (1 - c * c) ** 0.5] for c in cosines], dtype=np.float32)
    table = SentenceTable(np.arange(3), np.zeros(3, np.int64), np.full(3, 2), vectors)
    data = IndexData({"build_id": "t"}, {}, {}, passages, vectors, make_dense(vectors), Bm25Index.build(["a"] * 3),
                     sentences=table)
    return SentenceRescore(data, sentence_weight, rescore_depth)


def _query(text: str, vector=None, tokens=None):  # noqa: ANN001, ANN202
    from crps_qa.query.analyzer import Query

    return Query(typed=text, text=text, expanded=text, vector=vector, tokens=tokens)


def _run(scores: dict[int, float]):  # noqa: ANN202
    from crps_qa.search.stages import Run

    return Run(depth=10, scores=scores)


EAST = np.array([1.0, 0.0], np.float32)


def test_rescoring_adds_the_scaled_best_sentence_match_to_the_fused_score():
    fused = {0: 0.9, 1: 0.6, 2: 0.3}
    # fused scaled 1.0 / 0.5 / 0.0; best sentence 0.40 / 0.70 / 0.55 scaled 0.0 / 1.0 / 0.5
    out = _rescoring_stage(sentence_weight=1.0)(_query("q", EAST), _run(fused)).scores
    assert out == pytest.approx({0: 1.0, 1: 1.5, 2: 0.5})


def test_a_passages_best_match_may_be_two_adjacent_sentences_read_together():
    from crps_qa.index.lexical import Bm25Index
    from crps_qa.index.store import IndexData, SentenceTable, make_dense
    from crps_qa.search.stages import SentenceRescore
    from crps_qa.types import Passage

    # passage 0: sentences (1, 0) and (0, 1); passage 1: none; passage 2: (0, 1) alone
    passages = [Passage(f"d#{i}", "d", f"p{i}", 0, 9) for i in range(3)]
    vectors = np.array([[1, 0], [0, 1], [0, 1]], dtype=np.float32)
    table = SentenceTable(np.array([0, 0, 2]), np.array([0, 5, 0]), np.array([4, 9, 4]), vectors)
    data = IndexData({"build_id": "t"}, {}, {}, passages, vectors, make_dense(vectors), Bm25Index.build(["a"] * 3),
                     sentences=table)
    query = np.array([0.6, 0.8], dtype=np.float32)
    # passage 0: alone 0.6 and 0.8; together (1, 1) / sqrt 2 gives 1.4 / 1.414 = 0.990; passage 2: 0.8 only
    # (the first sentence of passage 2 does not pair with the last of passage 0)
    best = SentenceRescore(data, 1.0, 30).best_matches([0, 1, 2], query)
    assert best.tolist() == pytest.approx([1.4 / 2**0.5, -1.0, 0.8])


def test_rescoring_is_off_at_weight_zero_and_leaves_passages_past_the_depth_in_order():
    fused = {0: 0.9, 1: 0.6, 2: 0.3}
    assert _rescoring_stage(sentence_weight=0.0)(_query("q", EAST), _run(fused)).scores == fused
    deep = _rescoring_stage(sentence_weight=1.0, rescore_depth=2)(_query("q", EAST), _run(fused)).scores
    assert deep == pytest.approx({0: 1.0, 1: 1.5, 2: 0.0})  # passage 2 is past the cut: only its scaled fused 0.0


def test_document_prior_lifts_every_passage_of_the_document_the_question_points_at(tiny_settings, fake_embedder):
    from crps_qa.search.stages import DocumentPrior

    build(tiny_settings, fake_embedder)
    data = Pipeline.open(tiny_settings, embedder=fake_embedder).data
    prior = DocumentPrior(data, 0.3)
    flat = dict.fromkeys(range(len(data.passages)), 0.0)
    lifted = prior(_query("cold woman"), _run(flat)).scores  # words only the skin document uses
    for row, passage in enumerate(data.passages):
        assert lifted[row] == pytest.approx(0.3 if passage.doc_id == "skin" else 0.0)
    assert prior(_query("xylophone"), _run(flat)).scores == flat  # no document matches: no change


def test_document_prior_is_off_at_weight_zero(tiny_settings, fake_embedder):
    from crps_qa.search.stages import DocumentPrior

    build(tiny_settings, fake_embedder)
    data = Pipeline.open(tiny_settings, embedder=fake_embedder).data
    assert DocumentPrior(data, 0.0)(_query("cold woman"), _run({0: 0.5})).scores == {0: 0.5}


def test_fusion_stage_merges_the_pending_runs_and_clears_them():
    from crps_qa.search.stages import Fuse, Run

    run = Run(depth=10, scores={1: 4.0}, pending=({0: 0.9, 1: 0.5}, {1: 4.0, 2: 2.0}))
    fused = Fuse("convex", 60, 0.5)(_query("q"), run)
    # min-max scaled: dense 1.0 / 0.0 / -, bm25 - / 1.0 / 0.0; half of each
    assert fused.scores == pytest.approx({0: 0.5, 1: 0.5, 2: 0.0}) and fused.pending == ()
    rrf = Fuse("rrf", 60, 0.5)(_query("q"), run).scores
    assert rrf == pytest.approx({0: 1 / 61, 1: 1 / 62 + 1 / 61, 2: 1 / 62})


def test_bm25_stage_returns_at_most_depth_passages_with_a_positive_score_among_the_allowed_rows():
    from crps_qa.index.lexical import Bm25Index
    from crps_qa.index.store import IndexData, make_dense
    from crps_qa.search.stages import Bm25, Run
    from crps_qa.types import Passage

    texts = ["ketamine dose", "ketamine", "knee exam"]
    passages = [Passage(f"d#{i}", "d", t, 0, len(t)) for i, t in enumerate(texts)]
    vectors = np.eye(3, dtype=np.float32)
    data = IndexData({"build_id": "t"}, {}, {}, passages, vectors, make_dense(vectors), Bm25Index.build(texts))
    stage = Bm25(data)
    assert set(stage(_query("ketamine dose"), Run(depth=10)).scores) == {0, 1}  # the knee passage scores 0
    assert list(stage(_query("ketamine dose"), Run(depth=1)).scores) == [0]
    assert set(stage(_query("ketamine"), Run(depth=10, rows=np.array([1, 2]))).scores) == {1}


def test_dense_stage_ranks_by_cosine_and_keeps_its_run_for_fusion():
    from crps_qa.index.lexical import Bm25Index
    from crps_qa.index.store import IndexData, make_dense
    from crps_qa.search.stages import Dense, Run
    from crps_qa.types import Passage

    vectors = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]], dtype=np.float32)
    passages = [Passage(f"d#{i}", "d", f"p{i}", 0, 2) for i in range(3)]
    data = IndexData({"build_id": "t"}, {}, {}, passages, vectors, make_dense(vectors), Bm25Index.build(["a"] * 3))
    run = Dense(data)(_query("q", np.array([0.8, 0.6], np.float32)), Run(depth=2))
    assert run.scores == pytest.approx({0: 0.8, 1: 0.96}) and run.pending == (run.scores,)
    only = Dense(data)(_query("q", np.array([0.8, 0.6], np.float32)), Run(depth=5, rows=np.array([2])))
    assert only.scores == pytest.approx({2: 0.6})


def _matching_pipeline(tmp_path, fake_embedder, **update):
    """Two one-passage papers: only the knee paper has a sentence with every word of "knee
    examined every week"; the ketamine paper shares one word ("week") in its only sentence."""
    from crps_qa.settings import Settings

    corpus = tmp_path / "corpus"
    corpus.mkdir(parents=True)
    (corpus / "ketamine.txt").write_text("Ketamine study\n\nMethods\n\nKetamine ran for a week.", encoding="utf-8")
    (corpus / "knee.txt").write_text("Knee study\n\nMethods\n\nThe knee was examined every week.", encoding="utf-8")
    settings = Settings(corpus_dir=corpus, index_dir=tmp_path / "index", model="fake")
    build(settings, fake_embedder)
    pipeline = Pipeline(settings.model_copy(update=update), fake_embedder,
                        Pipeline.open(settings, embedder=fake_embedder).data)
    rows = {p.doc_id: row for row, p in enumerate(pipeline.data.passages)}
    return pipeline, rows["ketamine"], rows["knee"]


def test_word_matching_lifts_the_passage_whose_sentence_covers_the_question(tmp_path, fake_embedder):
    pipeline, ketamine, knee = _matching_pipeline(tmp_path, fake_embedder, match_weight=3.0)
    question = "knee examined every week"
    matches = pipeline.retriever.matcher.passage_match(question, [ketamine, knee])
    assert matches is not None and matches[0] < matches[1] == pytest.approx(1.0)
    scores = pipeline.retriever.stages["late"](_query(question), _run({ketamine: 2.0, knee: 1.0})).scores
    # scaled by the best score, plus 3 x the best sentence's match
    assert scores == pytest.approx({ketamine: 1.0 + 3 * matches[0], knee: 0.5 + 3 * matches[1]})
    assert scores[knee] > scores[ketamine]
    assert pipeline.search(question, k=2)[0].doc_id == "knee"


def test_a_second_match_of_one_question_computes_only_the_new_sentences(tmp_path, fake_embedder, monkeypatch):
    pipeline, ketamine, knee = _matching_pipeline(tmp_path, fake_embedder, match_weight=3.0)
    matcher = pipeline.retriever.matcher
    asked: list[list] = []
    read = matcher.token_vectors
    monkeypatch.setattr(matcher, "token_vectors", lambda keys: asked.append(list(keys)) or read(keys))
    question = "knee examined every week"
    first = matcher.passage_match(question, [knee])
    both = matcher.passage_match(question, [ketamine, knee])
    assert both[1] == first[0]  # the remembered match is the same number
    assert asked == [matcher_keys(matcher, knee), matcher_keys(matcher, ketamine)]  # the knee's not read again
    matcher.passage_match("ketamine week", [knee])
    assert asked[-1] == matcher_keys(matcher, knee)  # another question: computed afresh


def matcher_keys(matcher, row):  # noqa: ANN001, ANN201 - a WordMatcher; its sentence keys of passage row
    return [(matcher.data.passages[row].doc_id, a, b) for a, b in matcher.sentence_spans(row)]


def test_word_matching_reads_only_each_passages_sentences_nearest_the_question(tmp_path, fake_embedder):
    from crps_qa.settings import Settings

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "trial.txt").write_text("Trial\n\nMethods\n\nThe knee was examined every week. Ketamine doses were "
                                      "raised slowly. Patients rested at home.", encoding="utf-8")
    settings = Settings(corpus_dir=corpus, index_dir=tmp_path / "index", model="fake")
    build(settings, fake_embedder)
    pipeline = Pipeline.open(settings.model_copy(update={"match_sentences": 1}), embedder=fake_embedder)
    matcher, question = pipeline.retriever.matcher, "knee examined every week"
    assert pipeline.retriever.stages["late"].sentences == 1
    [row] = range(len(pipeline.data.passages))
    every = matcher.sentence_spans(row)  # the heading "Methods" and the three sentences
    assert len(every) == 4
    near_knee = fake_embedder.encode([question])[0]
    near_doses = fake_embedder.encode(["ketamine doses raised slowly"])[0]
    assert matcher.sentence_spans(row, (near_doses, 1)) == [every[2]]
    near_both = fake_embedder.encode(["ketamine doses raised, knee examined"])[0]
    assert matcher.sentence_spans(row, (near_both, 2)) == [every[1], every[2]]  # in text order
    assert matcher.passage_match(question, [row], nearest=(near_knee, 1)) == pytest.approx([1.0])
    assert matcher.passage_match(question, [row], nearest=(near_doses, 1))[0] < 0.5  # the knee sentence unread
    assert matcher.passage_match(question, [row]) == pytest.approx([1.0])  # all sentences


def test_word_matching_is_off_at_weight_zero_and_leaves_passages_past_the_depth_below(tmp_path, fake_embedder):
    pipeline, ketamine, knee = _matching_pipeline(tmp_path, fake_embedder, match_weight=0.0)
    question, scores = _query("knee examined every week"), {ketamine: 2.0, knee: 1.0}
    assert pipeline.retriever.stages["late"](question, _run(scores)).scores == scores
    shallow, ketamine, knee = _matching_pipeline(tmp_path / "b", fake_embedder, match_weight=3.0, rescore_depth=1)
    out = shallow.retriever.stages["late"](question, _run({ketamine: 2.0, knee: 1.0})).scores
    assert out[knee] == pytest.approx(0.5) and out[ketamine] > out[knee]  # past the cut: scaled only


def test_word_matching_needs_a_content_word(tmp_path, fake_embedder):
    pipeline, ketamine, knee = _matching_pipeline(tmp_path, fake_embedder, match_weight=3.0)
    assert pipeline.retriever.matcher.passage_match("what was it?", [ketamine, knee]) is None
    late = pipeline.retriever.stages["late"]
    assert late(_query("what was it?"), _run({ketamine: 2.0, knee: 1.0})).scores == {ketamine: 2.0, knee: 1.0}


def test_a_mode_runs_the_stages_its_setting_names(tmp_path, fake_embedder):
    pipeline, _, _ = _matching_pipeline(tmp_path, fake_embedder, hybrid_stages=("bm25",))
    assert pipeline.search("knee", k=5, mode="hybrid") == pipeline.search("knee", k=5, mode="bm25")


def test_title_token_vectors_are_kept_as_views_of_one_array_with_the_same_values():
    from crps_qa.index.embed import TokenVectors
    from crps_qa.search.late import contiguous

    encoded = [TokenVectors(("a", "b"), np.ones((2, 4), np.float32)), TokenVectors((), np.zeros((0, 4), np.float32)),
               TokenVectors(("c",), np.full((1, 4), 3.0, np.float32))]
    kept = contiguous(encoded)
    assert [tv.tokens for tv in kept] == [("a", "b"), (), ("c",)]
    for before, after in zip(encoded, kept, strict=True):
        assert np.array_equal(before.vectors, after.vectors)
    assert kept[0].vectors.base is kept[2].vectors.base is not None  # one block of memory
    assert contiguous([]) == []
