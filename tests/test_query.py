"""The Query record: a question analysed once (typos, abbreviations, terms and their IDF, words no
paper uses) and encoded once, on the tiny corpus with the fake embedder."""

from __future__ import annotations

import math

import numpy as np
import pytest

from crps_qa.index.build import build
from crps_qa.pipeline import Pipeline
from crps_qa.query.analyzer import QueryAnalyzer
from crps_qa.types import Correction
from crps_qa.vocab import idf_table


@pytest.fixture
def analyzer(tiny_settings, fake_embedder) -> QueryAnalyzer:
    build(tiny_settings, fake_embedder)
    return Pipeline.open(tiny_settings, embedder=fake_embedder).analyzer


def test_idf_table_counts_each_unit_once_per_term():
    idf, unseen = idf_table([["ketamine", "dose", "dose"], ["ketamine"]])
    assert idf == pytest.approx({"ketamine": math.log(3 / 2.5), "dose": math.log(3 / 1.5)})
    assert unseen == pytest.approx(math.log(3 / 0.5))


def test_a_question_is_corrected_then_expanded_with_the_corpus_abbreviations(analyzer):
    query = analyzer.analyze("  Did ketamin  help CRPS?")
    assert query.typed == "Did ketamin help CRPS?"  # whitespace collapsed
    assert query.corrections == (Correction("ketamin", "ketamine"),)
    assert query.text == "Did ketamine help CRPS?"
    assert query.expanded == "Did ketamine help CRPS? (complex regional pain syndrome)"
    assert query.vector is None and query.tokens is None and query.terms == {}  # not encoded, not for answering


def test_searching_as_typed_keeps_the_typo(analyzer):
    query = analyzer.analyze("Did ketamin help?", correct=False)
    assert query.text == "Did ketamin help?" and query.corrections == ()


def test_for_answering_the_record_carries_terms_with_their_idf_and_what_no_paper_says(analyzer):
    query = analyzer.analyze("How fast was the ketamine rate raised for the lidocaine group?", answer=True)
    n = len(analyzer.data.passages)
    idf, unseen = analyzer.idf()
    assert set(query.terms) == {"fast", "ketamin", "rate", "rais", "lidocain", "group"}  # stems, no question words
    assert query.terms["lidocain"] == pytest.approx(math.log((n + 1) / 0.5)) == unseen
    assert query.terms["ketamin"] == idf["ketamin"]
    assert query.missing == ("lidocaine",)
    unknown = sum(w for t, w in query.terms.items() if t not in idf)  # "fast", "lidocain", "group"
    assert query.unknown_share == pytest.approx(unknown / sum(query.terms.values()))


def test_number_words_become_digits(analyzer):
    assert analyzer.terms("four categories") == analyzer.terms("4 categories")


def test_encoding_takes_one_model_pass_for_vector_and_token_vectors(analyzer, fake_embedder):
    query = analyzer.analyze("maximum infusion rate")
    calls, token_calls = fake_embedder.calls, fake_embedder.token_calls
    encoded = analyzer.encode(query)
    assert encoded.vector.shape == (fake_embedder.dimension,) and encoded.tokens.tokens == ("maximum", "infus", "rate")
    assert (fake_embedder.calls - calls, fake_embedder.token_calls - token_calls) == (1, 1)  # encode_with_tokens
    assert encoded.text == query.text and encoded == query  # the same question, now with vectors


def test_a_batch_vector_is_kept_and_token_vectors_are_optional(analyzer, fake_embedder):
    vector = np.ones(fake_embedder.dimension, dtype=np.float32)
    encoded = analyzer.encode(analyzer.analyze("rate"), vector=vector, tokens=False)
    assert encoded.vector is vector and encoded.tokens is None
