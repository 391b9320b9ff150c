"""Word lists and the IDF formula that every stage shares (one copy of each).

    IGNORED                    # stop-words and question words: never matched, never missing
    idf_table([{"ketamine", "dose"}, {"ketamine"}])   # ({"ketamine": log(3/2.5), "dose": log(3/1.5)}, log(3/0.5))
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping

import bm25s

STOP_WORDS = frozenset(bm25s.stopwords.STOPWORDS_EN)
# Words that shape a question but are not what it is about: never matched, never missing.
QUESTION_WORDS = frozenset({
    "what", "which", "who", "whom", "whose", "when", "where", "why", "how", "did", "does", "do", "done",
    "was", "were", "is", "are", "be", "been", "can", "could", "would", "should", "will", "shall", "may",
    "might", "must", "has", "have", "had", "get", "got", "tell", "explain", "describe", "please",
})
IGNORED = STOP_WORDS | QUESTION_WORDS


# "four categories" matches "4 categories"
NUMBER_WORDS = {w: str(n) for n, w in enumerate((
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
))}


def document_frequencies(units: Iterable[Iterable[str]]) -> tuple[dict[str, int], int]:
    """How many units hold each term, and how many units there are."""
    df: Counter[str] = Counter()
    n = 0
    for unit in units:
        n += 1
        df.update(set(unit))
    return dict(df), n


def idf_from_df(df: Mapping[str, int], n: int) -> tuple[dict[str, float], float]:
    """IDF of every term, log((n + 1) / (df + 0.5)), and of a term no unit has, log((n + 1) / 0.5)."""
    return {t: math.log((n + 1) / (c + 0.5)) for t, c in df.items()}, math.log((n + 1) / 0.5)


def idf_table(units: Iterable[Iterable[str]]) -> tuple[dict[str, float], float]:
    """IDF of every term over ``units`` (each a passage's terms), and the IDF of a term no unit has:
    log((n + 1) / (df + 0.5)). e.g. 2 units, df 1 → log(3 / 1.5) = 0.69; unseen → log(3 / 0.5) = 1.79."""
    return idf_from_df(*document_frequencies(units))
