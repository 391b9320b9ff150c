"""Typo correction: a misspelt question word is searched as the corpus word it was meant to be."""

from __future__ import annotations

import pytest

from crps_qa.index.build import build
from crps_qa.pipeline import Pipeline
from crps_qa.query.spelling import Speller, same_case
from crps_qa.settings import Settings
from crps_qa.types import Correction

PAPER = (
    "Ketamine infusions relieved the pain of complex regional pain syndrome (CRPS). "
    "Hallucinations were rare. Pain relief lasted 12 weeks in the Sigtermans trial. "
    "Side effects were mild; the patient was characterized as a responder."
)


@pytest.fixture
def speller() -> Speller:
    return Speller.build([PAPER])


@pytest.mark.parametrize(("typed", "meant"), [
    ("releif", "relief"),  # two neighbouring letters swapped: one edit
    ("efects", "effects"),  # a letter dropped
    ("ketamin", "ketamine"),  # cut short: its stem is the corpus word's, but it is still a typo
    ("halucinations", "hallucinations"),
    ("sigtermens", "sigtermans"),  # a name no dictionary knows
    ("infusoins", "infusions"),
])
def test_a_typo_of_a_corpus_word_is_corrected(speller, typed, meant):
    assert speller.suggest(typed) == meant


@pytest.mark.parametrize("word", [
    "lidocaine",  # a drug the papers never mention: kept, so the answerer can refuse the question
    "gabapentin",
    "weather",  # ordinary English the papers happen not to use
    "dosage",
    "commonest",  # rare but real English: not "corrected" to a common word one edit away
    "scoped",  # rare, but an inflection of "scope": not "scored"
    "infusion",  # another form of a corpus word
    "ketamine",  # a corpus word
    "teh",  # too short to guess from
    "what",  # question words are never corrected
])
def test_real_words_and_absent_names_are_left_alone(speller, word):
    assert speller.suggest(word) is None


def test_correct_rewrites_the_question_and_reports_each_word_once(speller):
    corrected, corrections = speller.correct("How long did pain releif last after Ketamin? Releif!")
    assert corrected == "How long did pain relief last after Ketamine? Relief!"
    assert corrections == (Correction("releif", "relief"), Correction("ketamin", "ketamine"))


def test_a_corrected_question_is_not_corrected_again(speller):
    corrected, _ = speller.correct("pain releif after ketamin")
    assert speller.correct(corrected) == (corrected, ())


def test_contractions_are_never_corrected_but_possessives_are(speller):
    assert speller.correct("Why weren't side efects worse?") == ("Why weren't side effects worse?",
                                                                 (Correction("efects", "effects"),))
    assert speller.correct("Ketamin's relief") == ("Ketamine's relief", (Correction("ketamin", "ketamine"),))


@pytest.mark.parametrize("word", ["typpical", "neccessarily"])
def test_a_typo_of_common_english_becomes_that_word_not_a_near_corpus_word(speller, word):
    assert speller.suggest(word) == {"typpical": "typical", "neccessarily": "necessarily"}[word]


def test_the_case_the_word_was_typed_in_is_kept():
    assert [same_case(t, "relief") for t in ("releif", "Releif", "RELEIF")] == ["relief", "Relief", "RELIEF"]


# ----------------------------------------------------------------------------- through the pipeline


@pytest.fixture
def pipeline(tiny_settings, fake_embedder) -> Pipeline:
    build(tiny_settings, fake_embedder)
    return Pipeline.open(tiny_settings, embedder=fake_embedder)


def test_search_with_a_typo_finds_what_the_correct_spelling_finds(pipeline):
    request = pipeline.validate("maximum infusoin rate")
    assert request.query.text == "maximum infusion rate" and request.query.typed == "maximum infusoin rate"
    assert request.corrections == (Correction("infusoin", "infusion"),)
    assert pipeline.search("maximum infusoin rate", k=3) == pipeline.search("maximum infusion rate", k=3)


def test_an_answer_reports_the_corrections_and_keeps_the_question_as_typed(pipeline):
    answer = pipeline.ask("What was the maximum infusoin rate?")
    assert answer.question == "What was the maximum infusoin rate?"
    assert answer.corrections == (Correction("infusoin", "infusion"),)
    assert answer.to_dict()["corrections"] == [{"word": "infusoin", "correction": "infusion"}]
    assert answer.to_dict()["query"] == "What was the maximum infusion rate?"
    assert not answer.refused and "40 mg/h" in answer.answer


def test_one_request_can_be_searched_exactly_as_typed(pipeline):
    request = pipeline.validate("maximum infusoin rate", correct=False)
    assert request.query.text == "maximum infusoin rate" and request.corrections == ()
    assert pipeline.ask("What was the maximum infusoin rate?", correct=False).corrections == ()


def test_correction_can_be_turned_off(tiny_settings, fake_embedder):
    build(tiny_settings, fake_embedder)
    settings = Settings(**{**tiny_settings.model_dump(), "spelling_correction": False})
    request = Pipeline.open(settings, embedder=fake_embedder).validate("maximum infusoin rate")
    assert request.query.text == "maximum infusoin rate" and request.corrections == ()


@pytest.mark.parametrize(("typed", "papers", "expected"), [
    ("anaesthesia", "General anesthesia was not used.", "anesthesia"),
    ("anesthesia", "General anaesthesia was not used.", "anaesthesia"),
    ("centre", "She was treated at a pain center.", "center"),  # ordinary English, still the papers' form
    ("labelled", "Each vial was labeled.", "labeled"),
    ("hospitalised", "Patients were hospitalized for a week.", "hospitalized"),
    ("oedema", "Edema of the foot was noted.", "edema"),
    ("behaviour", "Pain behavior was scored.", "behavior"),
])
def test_british_and_american_spellings_become_the_papers_spelling(typed, papers, expected):
    assert Speller.build([papers]).suggest(typed) == expected


def test_a_word_the_papers_use_is_never_respelt():
    speller = Speller.build(["The centre and the center both appear; precise dosing."])
    assert speller.suggest("centre") is None and speller.suggest("precise") is None
