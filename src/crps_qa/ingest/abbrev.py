"""Abbreviations defined by the papers themselves, used to expand queries both ways.

"complex regional pain syndrome (CRPS)" and "Numeric Rating Scale [NRS]" teach the index that
CRPS and NRS have long forms; a question that uses either form then also finds the other.

    pairs = extract_abbreviations("... Numeric Rating Scale [NRS] ...")   # {"NRS": "Numeric Rating Scale"}
    QueryExpander(pairs).expand("what NRS scores?")   # "what NRS scores? (Numeric Rating Scale)"

The long-form search follows Schwartz & Hearst (2003): match the short form's characters right to
left inside the words before the bracket, the first character at the start of a word.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping

_SHORT = re.compile(r"[(\[]\s*([A-Za-z][A-Za-z0-9-]{1,9})\s*[)\]]")
_WORD = re.compile(r"[\w-]+")
_RUN = _WORD  # a whole run of word characters and hyphens: how a short form is delimited in a text
_FOLDS_TO_ASCII = re.compile("[\u0130\u0131\u017f\u212a]")  # İ ı ſ K: IGNORECASE matches them to i, s, k

# Spelling variants of drug names: applied only when the corpus uses one of the two spellings.
VARIANTS: tuple[tuple[str, str], ...] = (
    ("esketamine", "S-ketamine"),
    ("arketamine", "R-ketamine"),
    ("intravenous", "IV"),
)


def _is_short_form(candidate: str) -> bool:
    """At least two capitals, not a plain word ("(Non)", "(months)")."""
    return sum(c.isupper() for c in candidate) >= 2 and len(candidate) <= 10


def _long_form(short: str, words: list[str]) -> str | None:
    """Schwartz-Hearst: the shortest run of trailing ``words`` whose letters spell ``short``."""
    letters = [c.lower() for c in short if c.isalnum()]
    text = " ".join(words)
    s, t = len(letters) - 1, len(text) - 1
    while s >= 0:
        c = letters[s]
        while t >= 0 and (text[t].lower() != c or (s == 0 and t > 0 and text[t - 1].isalnum())):
            t -= 1
        if t < 0:
            return None
        s, t = s - 1, t - 1
    long_form = text[t + 1 :].strip()
    if len(long_form.split()) > min(len(letters) + 5, 2 * len(letters)) or len(long_form) <= len(short):
        return None
    return long_form


def extract_abbreviations(text: str) -> dict[str, str]:
    """Short form → most frequent long form defined in ``text``."""
    found: dict[str, Counter[str]] = {}
    for match in _SHORT.finditer(text):
        short = match.group(1)
        if not _is_short_form(short):
            continue
        before = _WORD.findall(text[max(0, match.start() - 200) : match.start()])
        window = before[-min(len(short) + 5, 2 * len(short)) :]
        long_form = _long_form(short, window)
        if long_form:
            found.setdefault(short, Counter())[long_form] += 1
    return {short: forms.most_common(1)[0][0] for short, forms in sorted(found.items())}


def merge(per_document: Iterable[Mapping[str, str]]) -> dict[str, str]:
    """One long form per short form across documents (the first seen, most documents agree)."""
    votes: dict[str, Counter[str]] = {}
    for pairs in per_document:
        for short, long_form in pairs.items():
            votes.setdefault(short, Counter())[long_form.lower()] += 1
    return {short: forms.most_common(1)[0][0] for short, forms in sorted(votes.items())}


class QueryExpander:
    """Adds the other form of every abbreviation or spelling variant found in a query."""

    def __init__(self, abbreviations: Mapping[str, str], corpus_words: set[str] | None = None) -> None:
        pairs = list(abbreviations.items())
        if corpus_words is not None:  # a variant is only useful if the corpus spells it one way
            pairs += [(a, b) for a, b in VARIANTS if a.lower() in corpus_words or b.lower() in corpus_words]
        self._pairs = pairs
        # compiled once: the indexer expands every sentence, and hundreds of abbreviations would
        # overflow re's cache of compiled patterns if each call compiled its own
        self._compiled = [
            (re.compile(rf"(?<![\w-]){re.escape(short)}(?![\w-])", re.IGNORECASE), f" {_squash(long_form)} ",
             short, long_form)
            for short, long_form in pairs
        ]
        # Which pairs a text can touch, found without a loop over every pair (a corpus of thousands
        # of papers defines thousands of abbreviations, and the indexer expands every passage):
        # a short form of word characters and hyphens is found only as a whole [\w-]+ run of the
        # text, and a long form only where its first word is a word of the squashed text.
        self._by_run: dict[str, list[int]] = {}
        self._by_first_word: dict[str, list[int]] = {}
        self._always: list[int] = []  # short forms the run test cannot decide (other characters)
        self._run_short = [short.isascii() and _RUN.fullmatch(short) is not None for short, _ in pairs]
        for i, (short, long_form) in enumerate(pairs):
            if self._run_short[i]:
                self._by_run.setdefault(short.lower(), []).append(i)
            else:
                self._always.append(i)
            first = _squash(long_form).split(" ", 1)[0]
            if first:
                self._by_first_word.setdefault(first, []).append(i)
            elif i not in self._always:
                self._always.append(i)  # a long form with no letters or digits

    @property
    def pairs(self) -> list[tuple[str, str]]:
        return list(self._pairs)

    def candidates(self, query: str, squashed: str, runs: set[str] | None = None) -> list[int]:
        """Indices of the pairs whose short or long form may occur in ``query`` (a superset of
        those that do; every pair when the text has a letter that case-folds to an ASCII one).
        ``runs``: the query's lower-cased [\w-]+ runs, when the caller has them."""
        if _FOLDS_TO_ASCII.search(query):
            return list(range(len(self._compiled)))  # "K" (Kelvin) matches "k" under IGNORECASE
        found = set(self._always)
        for run in runs if runs is not None else {r.lower() for r in _RUN.findall(query)}:
            found.update(self._by_run.get(run, ()))
        for word in set(squashed.split()):
            found.update(self._by_first_word.get(word, ()))
        return sorted(found)

    def expand(self, query: str) -> str:
        extra: list[str] = []
        squashed = _squash(query)
        lowered = f" {squashed} "
        runs = {r.lower() for r in _RUN.findall(query)}
        by_runs = not _FOLDS_TO_ASCII.search(query)  # then a run-delimited short form is found by set lookup
        for i in self.candidates(query, squashed, runs):
            pattern, squashed_long, short, long_form = self._compiled[i]
            decided = by_runs and self._run_short[i]
            has_short = short.lower() in runs if decided else pattern.search(query) is not None
            has_long = squashed_long in lowered
            if has_short and not has_long:
                extra.append(long_form)
            elif has_long and not has_short:
                extra.append(short)
        return f"{query} ({'; '.join(extra)})" if extra else query


def _squash(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))
