"""Which question words the corpus never uses, and which of those are specific enough to refuse on."""

import pytest

from crps_qa.query.coverage import Coverage, similarity, specificity

CORPUS = (
    "Complex regional pain syndrome (CRPS) was treated with S-ketamine infusions. The affected foot was "
    "cold. Vital signs were monitored. Patients with hyperactive microglia were characterized. Common "
    "side effects were nausea and dizziness. Memantine was not used. NMDA receptors were blocked."
)


@pytest.fixture(scope="module")
def coverage() -> Coverage:
    return Coverage.build([CORPUS], expansions=[("esketamine", "S-ketamine")])


@pytest.mark.parametrize(
    ("question", "missing"),
    [
        ("How does IV lidocaine compare with ketamine?", ("lidocaine",)),  # a drug no paper mentions
        ("What dose of gabapentin or pregabalin helps CRPS?", ("gabapentin", "pregabalin")),
        ("While the drip is running, what do the staff keep an eye on?", ()),  # lay words: common English
        ("Did the girl's chilly foot feel better?", ()),
        ("Is ketamin safe?", ()),  # a typo of a corpus word
        ("Which side effects were commonest?", ()),  # a corpus word with an ending
        ("Is microglia overactive in CRPS?", ()),  # a prefix on a corpus word ("active" via "hyperactive")
        ("How are patients characterised?", ()),  # British spelling of a corpus word
        ("Can esketamine be given?", ()),  # a variant the corpus defines
        ("Weren't the infusions long-standing?", ()),  # contractions and hyphenated common words
        ("Was memantine used?", ()),  # a rare word the corpus does use
        ("Is NMDAR blockade the mechanism?", ()),  # a corpus word plus one letter
        ("Had he tried an SCS or HLA typing?", ()),  # short abbreviations are never missing
    ],
)
def test_missing_names_the_specific_words_no_document_uses(coverage, question, missing):
    assert coverage.missing(question) == missing


def test_specificity_is_the_general_english_frequency_of_the_word_or_its_stem():
    assert specificity("lidocaine") < 3.0 < specificity("drip")
    assert specificity("drips") >= specificity("drip")  # a plural counts as its stem


def test_similarity_is_one_minus_the_normalised_edit_distance():
    assert similarity("ketamine", "ketamine") == 1.0
    assert similarity("ketamin", "ketamine") == pytest.approx(1 - 1 / 8)
    assert similarity("abc", "xyz") == 0.0
