"""Extractive answers: the retrieved sentences that best answer a question, each cited exactly.

    answerer = Answerer(index_data, embedder, refusal_threshold=0.43)
    answer = answerer.answer("What dose of S-ketamine was used?", hits)   # hits: hybrid search, top 10
    answer.answer        # "The maximum dose was 14 mg/h. [1]"  (or REFUSAL)
    answer.citations[0]  # Citation(marker=1, doc_id=..., char_start=..., quote=...)

No language model writes anything: every cited quote is one sentence, or two consecutive
sentences, of a cleaned document as cut by :func:`crps_qa.ingest.chunk.split_sentences`, so
``text[char_start:char_end] == quote``. Every cited passage is among ``Answer.passages``.

How a candidate is scored (all parts in [0, 1]). Candidates are the sentences of the top
CANDIDATE_PASSAGES hits, each on its own and each with the sentence after it in the same passage
(an answer is often split: "That report describes a 38-year-old man ... At follow-up his pain was
3 of 10.").

* ``match``   word-by-word (late-interaction) match: for each content word piece of the question,
  its best cosine with any word piece of the candidate (or of its paper's title line, at 0.9),
  using the model's contextual token vectors, averaged with IDF weights
  (:class:`crps_qa.search.late.WordMatcher`). It asks whether the sentence covers each thing the
  question asks about, by meaning ("calm inflammation" ~ "anti-inflammatory"), where the cosine
  of two pooled sentence vectors rewards any sentence on the question's topic.
* ``quantity`` 1 when the question asks for an amount (how much / long / many / often / old,
  what dose / rate / percentage ...) and the sentence states a number, else 0;
* ``passage`` the retrieval score of the passage the sentence came from, relative to the top hit
  (a tie-breaker between sentences that match about as well);
* ``fragment`` 1 for a heading, title or table row (no sentence-final punctuation, or mostly
  capitalised words): a heading is not an answer, so it is penalised;
* a pair pays PAIR_COST, so two sentences win only when the second adds to the match.
* a sentence that is itself a question ("How Does It Work for CRPS?", a heading in a review) is
  no candidate, on its own or in a pair: it matches the question best and answers nothing.
* ``dense`` (pooled cosine) and ``overlap`` (IDF-weighted share of the question's terms, with
  abbreviations and number words) are kept on every candidate for diagnostics and as the
  fallback when the embedder has no token vectors; they carry no weight in WEIGHTS.

WEIGHTS ranks candidates; EVIDENCE_WEIGHTS (the match alone) measures how well the best candidate
answers the question by itself, for refusal (the passage part is relative to the top hit, so it
says nothing about whether the corpus answers at all).

The best candidate is kept, then more that score close to it and do not repeat a sentence already
taken (overlapping passages and papers repeat sentences), up to MAX_SENTENCES sentences in all.

Refusal: a question is answered only when its *evidence* reaches ``refusal_threshold``. Evidence
is the best candidate's ``support`` (EVIDENCE_WEIGHTS), lowered by UNKNOWN_PENALTY times the share
(IDF-weighted) of the question's terms that occur nowhere in the corpus, and by MISSING_PENALTY
(always a refusal) when the question names something specific that no paper mentions
(:mod:`crps_qa.query.coverage`: "How does lidocaine compare with ketamine?" over papers that never say
"lidocaine"); those words are returned as ``Answer.missing_terms``.

Verdict and confidence (issue 16, :mod:`crps_qa.answer.verdict`): below the refusal evidence the
answer is ``not_found`` as before; above it, a logistic estimate over the scorers' agreement, the
margin to the runner-up, focus-term coverage, answer type and passage rank, fitted by leaving each
question set out (eval/fit_confidence.py), gives ``confidence`` and decides ``answered`` (the
sentences are the answer), ``uncertain`` (they are cited and highlighted, the text claims nothing)
or ``not_found``. :func:`confidence` is the older evidence-only curve, kept for comparison.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from crps_qa.answer.verdict import NOT_FOUND, Confidence, answer_features
from crps_qa.answer.verdict import UNCERTAIN as UNCERTAIN_VERDICT
from crps_qa.index.embed import Embedder, TokenEncoder, TokenVectors
from crps_qa.index.lexical import tokenize
from crps_qa.index.store import IndexData
from crps_qa.ingest.abbrev import QueryExpander
from crps_qa.ingest.chunk import is_fragment, split_sentences
from crps_qa.ingest.roles import QUOTABLE
from crps_qa.query.coverage import QUESTION_WORDS, Coverage
from crps_qa.search.late import WordMatcher
from crps_qa.types import Answer, Citation, Hit

# ----------------------------------------------------------------------------- fixed texts
REFUSAL = "Not found in the corpus: none of the indexed papers clearly answers this question."
REFUSAL_RELATED = "The closest passages are listed as related reading."
# verdict "uncertain" (issue 16): the best sentences are cited, but the answer text claims nothing
UNCERTAIN = ("Not sure: these passages may answer the question, but crps-qa cannot tell that they do. "
             "Check the highlighted sentences in the sources.")
MARKER = "[{n}]"  # placed after each answer sentence; n is the citation's number
NO_PASSAGES = "No passage matches this question."

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
NUMBER_WORDS = {w: str(n) for n, w in enumerate((  # "four categories" matches "4 categories"
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
))}

_WORDS = re.compile(r"[\w-]+")

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


class Answerer:
    """Chooses and cites answer sentences from retrieved hits. Thread-safe (the cache is locked)."""

    def __init__(self, data: IndexData, embedder: Embedder, *, refusal_threshold: float,
                 expander: QueryExpander | None = None, matcher: WordMatcher | None = None,
                 confidence: Confidence | None = None) -> None:
        self.data = data
        self.confidence = confidence or Confidence.load()  # issue 16: fitted estimate + verdict thresholds
        self.embedder = embedder
        self.refusal_threshold = refusal_threshold
        self.expander = expander or QueryExpander({})
        tokens = [set(self._terms(p.text)) for p in data.passages]
        df: dict[str, int] = {}
        for terms in tokens:
            for t in terms:
                df[t] = df.get(t, 0) + 1
        n = len(tokens)
        self._idf = {t: math.log((n + 1) / (c + 0.5)) for t, c in df.items()}
        self._unseen_idf = math.log((n + 1) / 0.5)  # a term the corpus never uses
        self._vectors: dict[tuple[str, int, int], np.ndarray] = {}  # encoded here (index without sentences)
        self._lock = threading.Lock()
        self.coverage = Coverage.build((t.text for t in data.texts.values()), data.expansions)
        # Word-by-word matching needs the model's token vectors; without them `match` is the cosine.
        if matcher is None and isinstance(embedder, TokenEncoder):
            matcher = WordMatcher(data, embedder, self.expander)
        self.matcher = matcher

    # ------------------------------------------------------------------ public
    def answer(
        self, question: str, hits: Sequence[Hit], *, k: int | None = None, question_vector: np.ndarray | None = None,
        question_tokens: TokenVectors | None = None,
    ) -> Answer:
        """Answer ``question`` from ``hits`` (best first). The top ``k`` hits are returned as
        passages, followed by any cited hit below the top ``k``, so every citation's passage is there.
        ``question_vector`` and ``question_tokens`` are the question's embedding and token vectors
        when the caller already has them (``Embedder.encode_with_tokens``)."""
        passages = tuple(hits[: k or len(hits)])
        scored = self.score(question, hits[:CANDIDATE_PASSAGES], question_vector=question_vector,
                            question_tokens=question_tokens)
        missing = self.coverage.missing(question)
        evidence = self.evidence(question, scored, missing)
        chosen = select(scored) if scored else []
        # ---- issue 16: calibrated correctness estimate and verdict (crps_qa.answer.verdict) ----
        features = answer_features(self, question, scored, chosen, evidence=evidence)
        estimate = self.confidence.estimate(features)
        verdict = self.confidence.verdict(estimate, evidence=evidence, floor=self.refusal_threshold, missing=missing)
        if missing or evidence < self.refusal_threshold:  # never sure of a quote the evidence rules out
            estimate = min(estimate, confidence(evidence))
        draft = " ".join(" ".join(s.quote.split()) for s in chosen)
        signals = tuple(features.items())
        if verdict == NOT_FOUND:
            return Answer(question, REFUSAL, True, estimate, (), passages, missing, verdict=verdict,
                          signals=signals, draft=draft)
        # ---- end issue 16 ----
        citations = tuple(
            Citation(marker=n, doc_id=s.doc_id, title=s.hit.title, section=s.hit.section, page=s.hit.page,
                     char_start=s.char_start, char_end=s.char_end, quote=s.quote, chunk_id=s.hit.chunk_id)
            for n, s in enumerate(chosen, start=1)
        )
        shown = {h.chunk_id for h in passages}
        for s in chosen:
            if s.hit.chunk_id not in shown:
                passages += (s.hit,)
                shown.add(s.hit.chunk_id)
        text = " ".join(f"{' '.join(c.quote.split())} {MARKER.format(n=c.marker)}" for c in citations)
        if verdict == UNCERTAIN_VERDICT:  # the sentences stay cited (highlighted), the text claims nothing
            text = UNCERTAIN
        return Answer(question, text, False, estimate, citations, passages, verdict=verdict, signals=signals,
                      draft=draft)

    def evidence(self, question: str, scored: Sequence[Scored], missing: Sequence[str] | None = None) -> float:
        """How well the best candidate supports an answer, in about [0, 1] (see module doc).
        ``missing`` is ``self.coverage.missing(question)`` when the caller already has it."""
        if missing is None:
            missing = self.coverage.missing(question)
        best = max((s.support for s in scored), default=0.0)
        return best - UNKNOWN_PENALTY * self.unknown_share(question) - (MISSING_PENALTY if missing else 0.0)

    def unknown_share(self, question: str) -> float:
        """IDF-weighted share of the question's terms that no passage of the corpus contains."""
        terms = set(self._question_terms(question))
        total = sum(self._weight(t) for t in terms)
        unseen = sum(self._unseen_idf for t in terms if t not in self._idf)
        return unseen / total if total else 0.0

    def score(
        self, question: str, hits: Sequence[Hit], *, question_vector: np.ndarray | None = None,
        question_tokens: TokenVectors | None = None,
    ) -> list[Scored]:
        """Every distinct sentence of ``hits``, and every pair of consecutive sentences of one hit,
        scored against ``question``. A sentence belongs to the first (best) hit that contains it.
        Reference lists and front matter are searchable but never quoted (issue 16)."""
        hits = [hit for hit in hits if hit.role in QUOTABLE]
        if not hits:
            return []
        query = self.embedder.encode([question])[0] if question_vector is None else question_vector.reshape(-1)
        units: list[tuple[Hit, list[tuple[int, int]], list[np.ndarray]]] = []
        seen: set[tuple[str, int, int]] = set()
        for hit in hits:
            spans, vectors = self._sentences(hit)
            text = self.data.texts[hit.doc_id].text
            # a question in the paper ("How Does It Work for CRPS?", a heading or a rhetorical
            # question) is never an answer, nor evidence that the corpus answers
            keep = [len(text[a:b].split()) >= MIN_WORDS and not is_question(text[a:b]) for a, b in spans]
            # pairs join an answer split over two sentences; a heading or keyword line is no half of one
            pairable = [k and not is_fragment(text[a:b]) for k, (a, b) in zip(keep, spans, strict=True)]
            for i, (span, vector) in enumerate(zip(spans, vectors, strict=True)):
                key = (hit.doc_id, *span)
                if keep[i] and key not in seen:
                    units.append((hit, [span], [vector]))
                if pairable[i] and i + 1 < len(spans) and pairable[i + 1] and (hit.doc_id, *spans[i + 1]) not in seen:
                    units.append((hit, [span, spans[i + 1]], [vector, vectors[i + 1]]))
            seen.update((hit.doc_id, *span) for span in spans)
        if not units:
            return []
        q_terms = set(self._question_terms(question))
        q_total = sum(self._weight(t) for t in q_terms) or 1.0
        top = max(h.score for h in hits)
        matches = self.match(question, [(hit.doc_id, spans) for hit, spans, _ in units], question_tokens)
        out = []
        for (hit, spans, vectors), match in zip(units, matches, strict=True):
            text = self.data.texts[hit.doc_id].text
            start, end = spans[0][0], spans[-1][1]
            quote = text[start:end]
            vector = np.sum(vectors, axis=0)
            vector = vector / max(float(np.linalg.norm(vector)), 1e-12)
            s_terms = set(self._terms(quote))
            overlap = sum(self._weight(t) for t in q_terms & s_terms) / q_total
            quantity = answer_type_match(question, quote)
            fragment = max(is_fragment(text[a:b]) for a, b in spans)
            passage = max(0.0, hit.score / top) if top > 0 else 0.0
            dense = max(0.0, float(vector @ query))
            out.append(Scored(hit.doc_id, start, end, quote, hit, dense, overlap, quantity, passage, vector, fragment,
                              tuple(spans) if len(spans) > 1 else (), dense if match is None else match))
        return out

    def match(
        self, question: str, units: Sequence[tuple[str, Sequence[tuple[int, int]]]],
        question_tokens: TokenVectors | None = None,
    ) -> list[float | None]:
        """Word-by-word match of the question with each unit (a document id and its sentence spans),
        see :class:`crps_qa.search.late.WordMatcher`; None for every unit when the embedder has no
        token vectors or the question no content word."""
        if self.matcher is None or not units:
            return [None] * len(units)
        return self.matcher.match(question, units, question_tokens)

    # ------------------------------------------------------------------ helpers
    def _terms(self, text: str) -> list[str]:
        return [NUMBER_WORDS.get(t, t) for t in tokenize(self.expander.expand(text))]

    def _question_terms(self, question: str) -> list[str]:
        content = " ".join(w for w in _WORDS.findall(question) if w.lower() not in QUESTION_WORDS)
        return self._terms(content)

    def _weight(self, term: str) -> float:
        return self._idf.get(term, self._unseen_idf)

    def _sentences(self, hit: Hit) -> tuple[list[tuple[int, int]], list[np.ndarray]]:
        """Spans and unit vectors of the sentences of ``hit``, in order: from the index's sentence
        table when it has them, else split and encoded here (once per sentence)."""
        table = self.data.sentences
        row = self.data.row_of.get(hit.chunk_id)
        ids = self.data.sentence_ids[row] if row is not None else []
        if table is not None and len(ids):
            spans = [(int(table.starts[j]), int(table.ends[j])) for j in ids]
            return spans, [table.vectors[j] for j in ids]
        spans = split_sentences(self.data.texts[hit.doc_id].text, hit.char_start, hit.char_end)
        keys = [(hit.doc_id, a, b) for a, b in spans]
        return spans, list(self._encode(keys)) if keys else []

    def _encode(self, keys: list[tuple[str, int, int]]) -> np.ndarray:
        """Embeddings of the sentences, encoding only those not seen before (one batch)."""
        with self._lock:
            missing = [key for key in keys if key not in self._vectors]
        if missing:
            texts = [" ".join(self.data.texts[d].text[s:e].split()) for d, s, e in missing]
            encoded = self.embedder.encode(texts)
            with self._lock:
                self._vectors.update(zip(missing, encoded, strict=True))
        with self._lock:
            return np.stack([self._vectors[key] for key in keys])


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


def near_duplicate(a: Scored, b: Scored) -> bool:
    """True when two candidates say the same: a sentence of one is word for word a sentence of the
    other (papers repeat a result in the abstract, the text and a figure legend), most terms are
    shared, or the embeddings are nearly the same."""
    if float(a.vector @ b.vector) >= DUPLICATE_COSINE or sentence_texts(a) & sentence_texts(b):
        return True
    ta, tb = set(tokenize(a.quote)), set(tokenize(b.quote))
    if not ta or not tb:
        return a.quote.strip() == b.quote.strip()
    return len(ta & tb) / len(ta | tb) >= DUPLICATE_JACCARD
