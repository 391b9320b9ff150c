"""Typo correction of questions against the corpus's own words.

    speller = Speller.build(document_texts, expansions)
    speller.correct("how long does the pain releif last after ketamin?")
    # ("how long does the pain relief last after ketamine?",
    #  (Correction("releif", "relief"), Correction("ketamin", "ketamine")))

People type questions fast. A misspelt word finds nothing in BM25, blurs the dense vector, and a
rare misspelt word looks like a name no paper mentions, which refuses the question outright
(:mod:`crps_qa.query.coverage`). So before anything else, a question word is replaced in two cases.

**A spelling variant.** A word the papers spell the other way, British or American ("anaesthesia"
when they say "anesthesia", "centre", "labelled"; see :func:`variant_key`), becomes the papers'
spelling, even when it is ordinary English.

**A typo**, when all of these hold:

* the word has at least MIN_LETTERS letters, is not a stop-word or question word, and the corpus
  does not use it, nor its stem ("infusions" is fine when the papers say "infusion"; a corpus word
  cut short by one letter, "ketamin", is still a typo);
* it is not ordinary English: its general-English Zipf frequency (wordfreq, 0-8) is below
  COMMON_ZIPF, so "dosage" or "weather" are left alone even though the papers never use them. A
  rare word (TYPO_ZIPF up to COMMON_ZIPF: "commonest", "drips", "dystonia") is replaced only by a
  word RARE_GAP more common ("reallly" → "really", "pople" → "people");
* a word with the same first letter is within one edit (optimal string alignment: an insertion,
  deletion, substitution or swap of two neighbouring letters counts as one), two from LONG_WORD
  letters on. Candidates are the corpus's words and the ENGLISH_WORDS most common English words
  (so "typpical" becomes "typical", not the corpus's "topical"), each at least as common in
  English as the typed word (see above for rare words). The nearest wins; among equally near ones
  the most common in English, a corpus word counting CORPUS_BONUS more ("limis" → "limits" over
  the corpus's "limbs", but "Sigtermens" → the corpus's "Sigtermans").

A word written as a technical name is never a typo, however large or small the corpus
(:func:`is_symbol`: "MAPK", "aPKCz", "CCL19", "α-tocopheryl").

A specific word that is simply absent ("lidocaine", "gabapentin") has no corpus word that close,
so it stays, and the answerer still refuses the question. Corrections are reported with every
search and answer, so a reader sees what was searched for.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache

from rapidfuzz import process
from rapidfuzz.distance import OSA
from wordfreq import top_n_list, zipf_frequency

from crps_qa.index.lexical import tokenize
from crps_qa.index.tables import speller_counts
from crps_qa.types import Correction
from crps_qa.vocab import IGNORED

MIN_LETTERS = 4  # shorter words are mostly abbreviations or stop-words; too short to guess from
TYPO_ZIPF = 1.5  # below this general-English frequency (Zipf, 0-8) a word is not English: a typo or a name
COMMON_ZIPF = 3.0  # at or above this a word is ordinary English, never corrected
RARE_GAP = 2.5  # in between, only a word this much more common replaces it ("reallly" 2.0 → "really" 6.0)
LONG_WORD = 8  # words this long may be two edits off, shorter ones one
ENGLISH_WORDS = 50_000  # the most common English words (wordfreq) are candidates too (down to Zipf ~2.6)
CORPUS_BONUS = 0.5  # Zipf points a corpus word gains over an English word at the same distance
_TYPED = re.compile(r"[A-Za-z]+(?:['’][A-Za-z]+)*")  # a contraction ("weren't") is one word, never corrected;
# a possessive's word is ("ketanine's" → "ketamine's")


@dataclass(frozen=True)
class Speller:
    """The corpus's words with how often each occurs, and the candidate corrections."""

    counts: dict[str, int]
    stems: frozenset[str]
    by_initial: dict[tuple[str, int], tuple[str, ...]]  # candidates (corpus, common English) by first letter, length
    zipf: dict[str, float]  # each candidate's English frequency, CORPUS_BONUS added for a corpus word
    variants: dict[str, str]  # variant_key → the corpus's most used word with that key

    @classmethod
    def build(cls, texts: Iterable[str], expansions: Sequence[tuple[str, str]] = ()) -> Speller:
        """From the documents' texts, plus both sides of the corpus's abbreviations and variants."""
        return cls.from_counts(speller_counts(texts, expansions))

    @classmethod
    def from_counts(cls, counts: Mapping[str, int]) -> Speller:
        """From the corpus's word counts (:func:`crps_qa.index.tables.speller_counts`, stored at index time)."""
        zipf = dict(english())
        zipf.update({w: zipf_frequency(w, "en") + CORPUS_BONUS for w in counts if len(w) >= MIN_LETTERS})
        by_initial: dict[tuple[str, int], list[str]] = {}
        for word in zipf:
            by_initial.setdefault((word[0], len(word)), []).append(word)
        variants: dict[str, str] = {}
        for word, _ in Counter(counts).most_common():
            variants.setdefault(variant_key(word), word)
        return cls(dict(counts), frozenset(tokenize(" ".join(counts))),
                   {letter: tuple(words) for letter, words in by_initial.items()}, zipf, variants)

    def correct(self, question: str) -> tuple[str, tuple[Correction, ...]]:
        """The question with its typos replaced (see the module doc), and what was replaced."""
        corrections: list[Correction] = []
        replaced: dict[str, str] = {}

        shouted = question.isupper()

        def fix(match: re.Match[str]) -> str:
            typed = match.group(0)
            if is_symbol(typed, question, match.start(), match.end(), shouted=shouted):
                return typed  # a gene, protein or abbreviation ("MAPK", "aPKCz", "CCL19", "α-tocopheryl")
            if typed[-2:].lower() in ("'s", "’s"):
                return fix_word(typed[:-2]) + typed[-2:]  # a possessive: "ketanine's"
            if "'" in typed or "’" in typed:
                return typed
            return fix_word(typed)

        def fix_word(typed: str) -> str:
            word = typed.lower()
            if word not in replaced:
                replaced[word] = self.suggest(word) or ""
                if replaced[word]:
                    corrections.append(Correction(word, replaced[word]))
            return same_case(typed, replaced[word]) if replaced[word] else typed

        corrected = _TYPED.sub(fix, question)
        return corrected, tuple(corrections)

    def suggest(self, word: str) -> str | None:
        """The corpus word that ``word`` is a typo of, or None when it is not one."""
        word = word.lower()
        if len(word) < MIN_LETTERS or word in IGNORED or word in self.counts:
            return None
        twin = self.variants.get(variant_key(word))
        if twin is not None:
            return twin  # the papers' spelling of the same word: "anaesthesia" → "anesthesia", "color" → "colour"
        if set(tokenize(word)) <= self.stems and not self._clipped(word):
            return None  # another form of a corpus word ("infusions", "titrating")
        typed_zipf = zipf_frequency(word, "en")
        if typed_zipf >= COMMON_ZIPF:
            return None  # ordinary English the papers happen not to use
        # a rare word ("commonest", "drips", "Palin") is kept unless it is a much rarer spelling of
        # a common one ("reallly", "pople")
        least = typed_zipf if typed_zipf < TYPO_ZIPF else typed_zipf + RARE_GAP
        limit = 1 if len(word) < LONG_WORD else 2
        best: tuple[int, float, str] | None = None
        near = [known for length in range(len(word) - limit, len(word) + limit + 1)
                for known in self.by_initial.get((word[0], length), ())]
        for known, distance, _ in process.extract(word, near, scorer=OSA.distance, score_cutoff=limit, limit=None):
            if self.zipf[known] - (CORPUS_BONUS if known in self.counts else 0.0) < least:
                continue
            if best is None or (distance, -self.zipf[known]) < (best[0], best[1]):
                best = (distance, -self.zipf[known], known)
        return best[2] if best else None

    def _clipped(self, word: str) -> bool:
        """True when the word is a corpus word without its last letter ("ketamin")."""
        return any(word + letter in self.counts for letter in "abcdefghijklmnopqrstuvwxyz")


@cache
def english() -> tuple[tuple[str, float], ...]:
    """The ENGLISH_WORDS most common English words of MIN_LETTERS+ letters, with their Zipf
    frequency (read once per process: wordfreq's list does not change)."""
    words = (w for w in top_n_list("en", ENGLISH_WORDS) if w.isalpha() and w.isascii() and len(w) >= MIN_LETTERS)
    return tuple((w, zipf_frequency(w, "en")) for w in words)


_VARIANTS = tuple((re.compile(a), b) for a, b in (
    (r"ae", "e"), (r"oe", "e"),  # anaesthesia, haemorrhage, paediatric, oedema, oestrogen
    (r"our(?=s?$|ed$|ing$|ite|able)", "or"),  # colour, behaviours, favourite
    (r"is(e|es|ed|ing|ation|ations)$", r"iz\1"), (r"ys(e|es|ed|ing)$", r"yz\1"),  # hospitalise, analyse
    (r"tre(s?)$", r"ter\1"), (r"ogue(s?)$", r"og\1"),  # centre, fibre, catalogue
    (r"ence$", "ense"), (r"(?<=[aeiou])ll(ed|ing|er)$", r"l\1"),  # licence, labelled, travelling
))


def variant_key(word: str) -> str:
    """One key for the British and American spellings of a word ("anaesthesia" and "anesthesia",
    "centre" and "center", "labelled" and "labeled"): the spellings differ, the key does not."""
    for pattern, replacement in _VARIANTS:
        word = pattern.sub(replacement, word)
    return word


def is_symbol(typed: str, text: str, start: int, end: int, *, shouted: bool = False) -> bool:
    """True when the word ``text[start:end]`` is written as a technical name, which is never
    corrected whatever words the corpus has: a capital after its first letter ("MAPK", "dLNs",
    "ComYMV"; unless the whole question is in capitals, ``shouted``), or part of a token with a
    digit or a non-ASCII letter ("CCL19", "IL-6", "α-tocopheryl"). On SciFact such words were
    "corrected" into their neighbours ("ALDH" → "aldo", "MAPK" → "mark")."""
    if not shouted and any(c.isupper() for c in typed[1:]):
        return True
    left = len(text[:start]) - len(text[:start].rstrip("-"))  # hyphens join a token ("α-", "IL-")
    before, after = text[max(start - left - 1, 0) : start - left], text[end : end + 2].lstrip("-")[:1]
    return any(c.isdigit() or (c.isalpha() and not c.isascii()) for c in before + after)


def same_case(typed: str, word: str) -> str:
    """``word`` written the way ``typed`` was: "KETAMIN" → "KETAMINE", "Ketamin" → "Ketamine"."""
    if typed.isupper() and len(typed) > 1:
        return word.upper()
    if typed[:1].isupper():
        return word[:1].upper() + word[1:]
    return word
