"""Shared pieces of the evidence-facet rules (:mod:`crps_qa.ingest.facets`): numbers written as
words, the parts of a paper that describe its own patients, and windows of paragraphs.

    number("Forty-eight") == 48          # "33" == 33, "one" == 1; None when it is not a number
    study_paragraphs(doc)                # [(start, end), ...] outside Introduction/Background/Discussion
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from crps_qa.types import CleanDocument

_ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
         "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
_TENS = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
WORDS: dict[str, int] = {w: i for i, w in enumerate(_ONES)} | {w: 20 + 10 * i for i, w in enumerate(_TENS)}
# one number: "48", "forty-eight", "Thirty three"
NUM = rf"(?:\d+|(?:{'|'.join(_TENS)})(?:[- ](?:{'|'.join(_ONES[1:10])}))?|{'|'.join(_ONES[1:])})"
UNIT = r"(?:days?|weeks?|months?|years?)"

# Sections about other people's patients (the literature), not this paper's own.
OTHER_PEOPLE = re.compile(r"^(?:introduction|background|discussion|references|disclaimer)\b", re.I)
MAX_WINDOW = 2500  # characters: a window of paragraphs longer than this is no longer one citation


def number(word: str) -> int | None:
    """An integer written in digits or English words (up to 99)."""
    word = word.strip().lower()
    if word.isdigit():
        return int(word)
    parts = re.split(r"[- ]", word)
    if not all(p in WORDS for p in parts):
        return None
    return sum(WORDS[p] for p in parts)


def own_part(doc: CleanDocument, offset: int) -> bool:
    """True when ``offset`` lies outside the sections that describe other studies' patients."""
    section = doc.section_at(offset)
    return section is None or not OTHER_PEOPLE.match(section)


def study_paragraphs(doc: CleanDocument) -> list[tuple[int, int]]:
    """Spans of the paragraphs (blank-line separated) outside Introduction, Background, Discussion
    and References, in text order."""
    spans, start = [], 0
    for gap in re.finditer(r"\n\s*\n", doc.text):
        spans.append((start, gap.start()))
        start = gap.end()
    spans.append((start, len(doc.text)))
    return [(a, b) for a, b in spans if b > a and own_part(doc, a)]


def windows(paragraphs: list[tuple[int, int]], *, size: int = 5) -> Iterator[tuple[int, int]]:
    """Runs of up to ``size`` adjacent paragraphs (adjacent: nothing excluded between them), each at
    most MAX_WINDOW characters long."""
    for i, (start, _) in enumerate(paragraphs):
        for j in range(i, min(i + size, len(paragraphs))):
            if j > i and paragraphs[j][0] - paragraphs[j - 1][1] > 4:
                break
            if paragraphs[j][1] - start > MAX_WINDOW and j > i:
                break
            yield start, paragraphs[j][1]


Rule = tuple[re.Pattern[str], Callable[[re.Match[str]], str | None]]


def first(rules: list[Rule], text: str, start: int, end: int) -> tuple[str, int, int] | None:
    """The first rule (in list order) that matches ``text[start:end]``, at its earliest match:
    (value, char_start, char_end); a rule whose reader returns None is skipped."""
    for pattern, read in rules:
        for match in pattern.finditer(text, start, end):
            value = read(match)
            if value is not None:
                return value, match.start(), match.end()
    return None


def best_window(doc: CleanDocument, rules: dict[str, list[Rule]]) -> tuple[dict[str, str], int, int] | None:
    """The paragraph window stating the most of ``rules``' attributes (earliest on a tie), as
    ({attribute: value}, char_start, char_end) with the span covering every value read; None when
    no window states any."""
    best: tuple[int, int, dict[str, str], int, int] | None = None
    for start, end in windows(study_paragraphs(doc)):
        found = {name: hit for name, attr in rules.items() if (hit := first(attr, doc.text, start, end))}
        if not found:
            continue
        span_start = min(h[1] for h in found.values())
        span_end = max(h[2] for h in found.values())
        key = (len(found), -span_start)
        if best is None or key > best[:2]:
            best = (*key, {n: h[0] for n, h in found.items()}, span_start, span_end)
    return None if best is None else (best[2], best[3], best[4])
