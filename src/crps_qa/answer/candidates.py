"""Answer candidates: a sentence or two consecutive ones, their score parts, and how the answer's
sentences are chosen among them (see :mod:`crps_qa.answer.answerer` for what the parts mean).

    answer_type_match("What dose was used?", "Ketamine was given at 14 mg/h.")   # 1.0
    select(scored)    # the best candidate, then close runners-up that say something new
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from crps_qa.index.lexical import tokenize
from crps_qa.types import Hit

# ----------------------------------------------------------------------------- tuning
CANDIDATE_PASSAGES = 10  # sentences are drawn from this many hits (answer recall @10 >> @5)
MAX_SENTENCES = 3  # in the whole answer (a pair counts as two)
EXTRA_MARGIN = 0.25  # a further candidate must score within this of the best one
DIVERSITY = 0.1  # maximal-marginal-relevance penalty on similarity to sentences already taken
DUPLICATE_JACCARD = 0.7  # sentences sharing this share of their terms count as the same ...
DUPLICATE_COSINE = 0.9  # ... and so do sentences whose embeddings are this close
MIN_WORDS = 3  # shorter "sentences" are headings or table labels
WEIGHTS = {"match": 1.0, "passage": 0.10, "quantity": 0.05}  # ranks candidates
EVIDENCE_WEIGHTS = {"match": 1.0}  # decides refusal
FRAGMENT_PENALTY = 0.05  # score -= this for a heading / title / table row
PAIR_COST = 0.04  # score -= this for a two-sentence candidate
UNKNOWN_PENALTY = 0.1  # evidence -= this * IDF-weighted share of question terms not in the corpus
MISSING_PENALTY = 1.0  # evidence -= this when the question names something the corpus never mentions
CONFIDENCE_SLOPE = 7.25  # logistic fit on the dev split, see eval/TUNING.md
CONFIDENCE_MIDPOINT = 0.378

# What a question asks for → what a sentence that answers it contains. A question can ask for
# several kinds ("at what rate and for how long"); a sentence matching any of them scores.
_NUM = (r"(\d+(?:\.\d+)?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|"
        r"forty|fifty)")
ANSWER_TYPES: tuple[tuple[re.Pattern[str], re.Pattern[str]], ...] = tuple(
    (re.compile(asks, re.IGNORECASE), re.compile(says, re.IGNORECASE))
    for asks, says in (
        (r"\bhow old\b|\bwhat age\b|\bage\b", rf"\b{_NUM}[- ]year[- ]old\b|\baged? {_NUM}\b"),
        (r"\b(dose|doses|dosing|rate|mg|how much)\b",
         rf"{_NUM}\s*(mg|µg|mcg|g|ml|MME)\b|mg/|mg\b"),
        (r"\bhow long\b|\bhow (quickly|soon)\b|\bduration\b|\bhow many (days|weeks|months|years|hours)\b|"
         r"\bwhen\b|\blast\b",
         rf"{_NUM}\s*(?:[–-]\s*{_NUM}\s*)?(min|minutes?|hours?|h|hrs?|days?|weeks?|months?|years?)\b"),
        (r"\b(percent|percentage|proportion|fraction|share|how common|how many|prevalence|incidence)\b",
         rf"\d\s*%|\b{_NUM} of (the )?{_NUM}\b|\bper 100"),
        (r"\btemperature|\bdegrees?\b|\bwarm|\bcold", r"°\s*[FC]|\bdegrees?\b"),
        (r"\bhow often\b|\bfrequen", r"\btimes\b|\b(daily|weekly|twice|per (day|week))\b"),
        (r"\bhow many\b", rf"\b{_NUM}\b"),
    )
)


def answer_type_match(question: str, sentence: str) -> float:
    """1 when the sentence states the kind of quantity the question asks for, else 0."""
    asked = [says for asks, says in ANSWER_TYPES if asks.search(question)]
    return float(any(says.search(sentence) for says in asked))


@dataclass(frozen=True)
class Scored:
    """One candidate (a sentence, or two consecutive ones) with its exact span, the hit it came
    from, and its score parts."""

    doc_id: str
    char_start: int
    char_end: int
    quote: str
    hit: Hit
    dense: float
    overlap: float
    quantity: float
    passage: float
    vector: np.ndarray = field(repr=False, compare=False)
    fragment: float = 0.0
    sentences: tuple[tuple[int, int], ...] = ()  # spans of its sentences; () = the one span
    match: float = 0.0  # word-by-word (late interaction) match of the question, see Answerer.match

    @property
    def spans(self) -> tuple[tuple[int, int], ...]:
        return self.sentences or ((self.char_start, self.char_end),)

    @property
    def score(self) -> float:
        """How likely this candidate is the answer, relative to the other candidates."""
        return self.weighted(WEIGHTS)

    @property
    def support(self) -> float:
        """How well this candidate matches the question on its own terms (for refusal)."""
        return self.weighted(EVIDENCE_WEIGHTS)

    def weighted(self, weights: dict[str, float]) -> float:
        return (weights.get("match", 0.0) * self.match + weights.get("dense", 0.0) * self.dense
                + weights.get("overlap", 0.0) * self.overlap + weights.get("quantity", 0.0) * self.quantity
                + weights.get("passage", 0.0) * self.passage
                - FRAGMENT_PENALTY * self.fragment - PAIR_COST * (len(self.spans) - 1))


def confidence(evidence: float) -> float:
    """Calibrated probability that an answer at this evidence level is right (see module doc)."""
    return 1.0 / (1.0 + math.exp(-CONFIDENCE_SLOPE * (evidence - CONFIDENCE_MIDPOINT)))


def is_question(sentence: str) -> bool:
    """True for a sentence that asks rather than states (ends with "?", before closing quotes or brackets)."""
    return sentence.rstrip().rstrip("\"'”’)]").endswith("?")


def select(scored: Sequence[Scored]) -> list[Scored]:
    """The best candidate, then close runners-up that say something new, MAX_SENTENCES in all.

    Runners-up must score within EXTRA_MARGIN of the best and are picked by maximal marginal
    relevance (score minus DIVERSITY times the cosine to the closest candidate already taken), so
    a further sentence adds a fact rather than rephrasing the first; candidates that share a
    sentence with one taken, and near-duplicates (overlapping passages, abstract vs. results),
    are skipped, and so is one that would take the answer past MAX_SENTENCES."""
    ranked = sorted(scored, key=lambda s: s.score, reverse=True)
    chosen = [ranked[0]]
    pool = [s for s in ranked[1:] if s.score >= ranked[0].score - EXTRA_MARGIN]
    while True:
        room = MAX_SENTENCES - sum(len(c.spans) for c in chosen)
        pool = [s for s in pool if len(s.spans) <= room
                and not any(shares_sentence(s, c) or near_duplicate(s, c) for c in chosen)]
        if not pool:
            break
        best = max(pool, key=lambda s: s.score - DIVERSITY * max(float(s.vector @ c.vector) for c in chosen))
        chosen.append(best)
        pool.remove(best)
    return chosen


def sentence_texts(s: Scored) -> set[str]:
    """The candidate's sentences, lower-cased with whitespace squashed."""
    return {" ".join(s.quote[a - s.char_start : b - s.char_start].lower().split()) for a, b in s.spans}


def shares_sentence(a: Scored, b: Scored) -> bool:
    """True when two candidates of one document overlap (e.g. a pair and one of its sentences)."""
    return a.doc_id == b.doc_id and a.char_start < b.char_end and b.char_start < a.char_end


@functools.lru_cache(maxsize=4096)
def token_set(quote: str) -> frozenset[str]:
    """The BM25 tokens of a candidate's text (memoized: ``select`` compares each candidate with every
    one taken, and the same sentences come back for related questions)."""
    return frozenset(tokenize(quote))


def near_duplicate(a: Scored, b: Scored) -> bool:
    """True when two candidates say the same: a sentence of one is word for word a sentence of the
    other (papers repeat a result in the abstract, the text and a figure legend), most terms are
    shared, or the embeddings are nearly the same."""
    if float(a.vector @ b.vector) >= DUPLICATE_COSINE or sentence_texts(a) & sentence_texts(b):
        return True
    ta, tb = token_set(a.quote), token_set(b.quote)
    if not ta or not tb:
        return a.quote.strip() == b.quote.strip()
    return len(ta & tb) / len(ta | tb) >= DUPLICATE_JACCARD
