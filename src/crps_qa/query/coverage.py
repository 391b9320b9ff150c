"""Which words of a question the corpus never uses, and which of those name something specific.

    coverage = Coverage.build(document_texts, expansions)
    coverage.missing("How does IV lidocaine compare with ketamine?")        # ("lidocaine",)
    coverage.missing("While the drip is running, what do staff monitor?")   # (): lay words

A question about a drug, test or procedure that none of the papers mentions cannot be answered
from them, however well the rest of it ("IV ... compare with ketamine ... CRPS pain") matches.
Lay wording is different: "drip" or "chilly" are not in the papers either, but the papers say
"infusion" and "cold". The two are told apart by how common the word is in general English
(wordfreq's Zipf scale, 0-8: "drip" 3.6, "chilly" 3.5, "lidocaine" 2.5, "gabapentin" 2.3):
a word below SPECIFIC_ZIPF that the corpus never uses is *missing*, and the answerer refuses.

A question word counts as used by the corpus when the corpus has the word itself or its stem,
the word without a common prefix ("overactive" → "active", also as in "hyperactive"), a spelling variant or typo of a
corpus word ("characterises" ~ "characterized", "ketamin" ~ "ketamine"), or a corpus word it
extends by a short ending ("commonest" → "common", "NMDAR" → "NMDA"). Numbers, short words, stop-words and
question words are never missing; nor are words under MIN_LETTERS letters, mostly abbreviations a
user may use where the papers spell the thing out ("SCS" for "spinal cord stimulator").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rapidfuzz.distance import Levenshtein
from wordfreq import zipf_frequency

from crps_qa.index.lexical import tokenize
from crps_qa.index.tables import VOCABULARY_WORD, vocabulary
from crps_qa.vocab import IGNORED

SPECIFIC_ZIPF = 3.0  # rarer than this in general English = a technical or specific word
MIN_LETTERS = 5  # shorter words are mostly abbreviations, which the papers may spell out differently
NEAR_SPELLING = 0.8  # normalised Levenshtein similarity of a spelling variant or typo ...
NEAR_MIN_LETTERS = 6  # ... for words at least this long
MAX_ENDING = 3  # "common" + "est"
PREFIXES = ("over", "hyper", "hypo", "under", "non", "anti", "pre", "post", "re", "un", "in", "dis", "sub",
            "super", "intra", "inter")
_WORD = VOCABULARY_WORD


@dataclass(frozen=True)
class Coverage:
    """The corpus's vocabulary, for telling which question words it never uses."""

    words: frozenset[str]
    stems: frozenset[str]

    @classmethod
    def build(cls, texts: Iterable[str], expansions: Sequence[tuple[str, str]] = ()) -> Coverage:
        """From the documents' texts, plus both sides of the corpus's abbreviations and variants
        (so "esketamine" is used when the corpus says "S-ketamine")."""
        return cls.from_words(vocabulary(texts, expansions))

    @classmethod
    def from_words(cls, words: Iterable[str]) -> Coverage:
        """From the corpus's vocabulary (:func:`crps_qa.index.tables.vocabulary`, stored at index time)."""
        words = frozenset(words)
        return cls(words, frozenset(tokenize(" ".join(sorted(words)))))

    def missing(self, question: str) -> tuple[str, ...]:
        """The question's specific words (rare in English) that the corpus never uses, in order."""
        out: list[str] = []
        for word in _WORD.findall(question):
            word = word.lower()
            if "'" in word or "’" in word or word in out:
                continue  # contractions ("weren't") are never specific
            if specificity(word) >= SPECIFIC_ZIPF:
                continue  # common English (checked first: a dictionary lookup, uses() scans the vocabulary)
            if not all(self._ignorable(p) or self.uses(p) for p in word.split("-") if p):
                out.append(word)
        return tuple(out)

    def uses(self, word: str) -> bool:
        """True when the corpus uses ``word`` in some form (see the module doc)."""
        if word in self.words or set(tokenize(word)) <= self.stems:
            return True
        for prefix in PREFIXES:
            rest = word[len(prefix):]
            if word.startswith(prefix) and len(rest) >= 4 and (
                self.uses(rest) or (len(rest) >= 5 and any(known.endswith(rest) for known in self.words))
            ):
                return True  # "overactive": "active", or another prefix on it ("hyperactive")
        if len(word) >= 5 and word[:-1] in self.words:
            return True  # one letter added to a corpus word: "NMDAR" for "NMDA", a plural
        if len(word) < NEAR_MIN_LETTERS:
            return False
        for known in self.words:
            if known[0] != word[0] or abs(len(known) - len(word)) > MAX_ENDING or len(known) < 5:
                continue
            if word.startswith(known) or similarity(word, known) >= NEAR_SPELLING:
                return True
        return False

    @staticmethod
    def _ignorable(word: str) -> bool:
        return len(word) < MIN_LETTERS or word in IGNORED


def specificity(word: str) -> float:
    """General-English Zipf frequency of the word or its stem, whichever is higher
    ("drips" counts as "drip")."""
    return max([zipf_frequency(word, "en")] + [zipf_frequency(s, "en") for s in tokenize(word)])


def similarity(a: str, b: str) -> float:
    """1 - Levenshtein distance / the longer length ("ketamin" ~ "ketamine": 1 - 1/8 = 0.875)."""
    return Levenshtein.normalized_similarity(a, b)
