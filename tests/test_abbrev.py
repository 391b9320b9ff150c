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


def _expand_every_pair(expander: QueryExpander, query: str) -> str:
    """The expansion as it was first written: every pair's short-form regex and long-form test."""
    import re

    extra = []
    lowered = " " + " ".join(re.findall(r"[a-z0-9]+", query.lower())) + " "
    for short, long_form in expander.pairs:
        has_short = re.search(rf"(?<![\w-]){re.escape(short)}(?![\w-])", query, re.IGNORECASE) is not None
        has_long = " " + " ".join(re.findall(r"[a-z0-9]+", long_form.lower())) + " " in lowered
        if has_short and not has_long:
            extra.append(long_form)
        elif has_long and not has_short:
            extra.append(short)
    return f"{query} ({'; '.join(extra)})" if extra else query


def test_expansion_looks_only_at_pairs_a_text_can_touch_and_finds_what_trying_every_pair_finds():
    pairs = {"CRPS": "complex regional pain syndrome", "NRS": "numeric rating scale", "IV": "intravenous",
             "S-ketamine": "esketamine", "CI": "confidence interval", "K+": "potassium", "T0": "baseline"}
    expander = QueryExpander(pairs)
    texts = [
        "CRPS and NRS at T0", "crps-related pain", "NRSs", "the numeric rating scale fell", "IV-ketamine",
        "given iv.", "s-ketamine 0.5 mg", "Esketamine (S-ketamine)", "95% CI 2–4", "K+ levels", "",
        "Kelvin-sign \u212a+ and long-s crp\u017f", "complex regional pain syndrome (CRPS)", "baseline T0",
    ]
    # NRS, and "K+" (not a run of word characters: always tried); not the other five
    assert expander.candidates("NRS only", "nrs only") == [1, 5]
    for text in texts:
        assert expander.expand(text) == _expand_every_pair(expander, text), text
