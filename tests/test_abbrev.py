import pytest

from crps_qa.ingest.abbrev import QueryExpander, extract_abbreviations, merge


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Complex Regional Pain Syndrome (CRPS) is a disorder", {"CRPS": "Complex Regional Pain Syndrome"}),
        ("pain scores (Numeric Rating Scale [NRS]) were", {"NRS": "Numeric Rating Scale"}),
        ("blocks the N-methyl-D-aspartate (NMDA) receptor", {"NMDA": "N-methyl-D-aspartate"}),
        ("the Timed-Up-and-Go (TUG) test", {"TUG": "Timed-Up-and-Go"}),
        ("pain relief (months) and a (Non)responder", {}),  # plain words in brackets are not abbreviations
        ("seen at the clinic (XQ) daily", {}),  # no run of preceding words spells X...Q
    ],
)
def test_extracts_abbreviations_defined_in_the_text(text, expected):
    assert extract_abbreviations(text) == expected


def test_merge_keeps_the_most_common_long_form():
    merged = merge(
        [{"CRPS": "Complex Regional Pain Syndrome"}, {"CRPS": "complex regional pain syndrome"}, {"IV": "intravenous"}]
    )
    assert merged == {"CRPS": "complex regional pain syndrome", "IV": "intravenous"}


@pytest.fixture
def expander() -> QueryExpander:
    return QueryExpander({"CRPS": "complex regional pain syndrome", "NRS": "numeric rating scale"}, {"s-ketamine"})


@pytest.mark.parametrize(
    ("query", "expanded"),
    [
        ("what causes crps?", "what causes crps? (complex regional pain syndrome)"),
        ("Complex regional pain syndrome in children", "Complex regional pain syndrome in children (CRPS)"),
        ("NRS before and after", "NRS before and after (numeric rating scale)"),
        ("CRPS (complex regional pain syndrome) basics", "CRPS (complex regional pain syndrome) basics"),
        ("esketamine dose", "esketamine dose (S-ketamine)"),
        ("ketamine dose", "ketamine dose"),
        ("increments of 5 mg", "increments of 5 mg"),
    ],
)
def test_expansion_adds_the_other_form_only(expander, query, expanded):
    assert expander.expand(query) == expanded


def test_variants_apply_only_when_the_corpus_uses_one_spelling():
    assert QueryExpander({}, {"ketamine"}).expand("esketamine dose") == "esketamine dose"
