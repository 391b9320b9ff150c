"""The BM25 tokenizer: the same at index and query time, and what it keeps."""

import pytest

from crps_qa.index.lexical import Bm25Index, tokenize


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("The infusion rates rose.", ["infus", "rate", "rose"]),  # stop-words dropped, stemmed
        ("25mg/hr", ["25", "mg", "hr"]),  # so it matches "25 mg/hr"
        ("T0 and 0.5", ["t0", "0.5"]),
        ("S-ketamine", ["ketamin", "s-ketamin"]),  # the shared word and the whole prefixed form
        ("N-methyl-D-aspartate", ["methyl", "aspart", "n-methyl"]),
        ("anti-inflammatory", ["anti", "inflammatori"]),  # longer prefixes: parts only
    ],
)
def test_tokenize(text, tokens):
    assert tokenize(text) == tokens


def test_a_prefixed_form_outranks_the_plain_word_for_a_prefixed_query():
    bm25 = Bm25Index.build(["Racemic ketamine was infused at 20 mg/h.", "S-ketamine was infused at 6 mg/h."])
    scores = bm25.scores("S-ketamine infusion rate")
    assert scores[1] > scores[0] > 0
