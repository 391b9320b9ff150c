"""Extractive answers: the retrieved sentences that best answer a question, each cited exactly.

    answerer = Answerer(index_data, embedder, analyzer, matcher, refusal_threshold=0.43)
    query = analyzer.encode(analyzer.analyze("What dose of S-ketamine was used?", answer=True))
    answer = answerer.answer(query, hits)   # hits: hybrid search, top 10
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
or ``not_found``. A not_found answer's confidence is capped by the older evidence-only curve
(:func:`crps_qa.answer.candidates.confidence`). Reference lists and front matter are never quoted.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence

import numpy as np

from crps_qa.answer.candidates import (
    CANDIDATE_PASSAGES,
    MIN_WORDS,
    MISSING_PENALTY,
    UNKNOWN_PENALTY,
    Scored,
    answer_type_match,
    confidence,
    is_question,
    select,
)
from crps_qa.answer.second_opinion import SentenceScorer
from crps_qa.answer.texts import MARKER, REFUSAL, UNCERTAIN
from crps_qa.answer.verdict import COEFFICIENTS, COEFFICIENTS_SECOND, NOT_FOUND, Confidence, answer_features
from crps_qa.answer.verdict import UNCERTAIN as UNCERTAIN_VERDICT
from crps_qa.index.embed import Embedder
from crps_qa.index.store import IndexData
from crps_qa.ingest.chunk import is_fragment, split_sentences
from crps_qa.ingest.roles import QUOTABLE
from crps_qa.query.analyzer import Query, QueryAnalyzer
from crps_qa.search.late import WordMatcher
from crps_qa.types import Answer, Citation, Hit


class Answerer:
    """Chooses and cites answer sentences from retrieved hits. Thread-safe (the cache is locked)."""

    def __init__(self, data: IndexData, embedder: Embedder, analyzer: QueryAnalyzer, matcher: WordMatcher | None,
                 *, refusal_threshold: float, confidence: Confidence | None = None,
                 second: SentenceScorer | None = None) -> None:
        self.data = data
        # issue 16: fitted estimate + verdict thresholds; with a second opinion (an independent sentence
        # model, crps_qa.answer.second_opinion) the model fitted with its agreement features
        self.second = second
        self.confidence = confidence or Confidence.load(COEFFICIENTS if second is None else COEFFICIENTS_SECOND)
        self.embedder = embedder
        self.analyzer = analyzer  # the corpus's term IDF and how a sentence's terms are read
        # word-by-word matching needs the model's token vectors; without them `match` is the cosine
        self.matcher = matcher
        self.refusal_threshold = refusal_threshold
        self.paper_terms: dict[str, frozenset[str]] = {}  # each paper's terms, for the verdict's paper_gap
        self._vectors: dict[tuple[str, int, int], np.ndarray] = {}  # encoded here (index without sentences)
        self._lock = threading.Lock()

    @functools.cached_property
    def document_rows(self) -> dict[str, int]:
        """Each paper's row in the index's documents' BM25 (for the verdict's paper_gap)."""
        tables = self.data.tables
        return {} if tables is None else {doc_id: i for i, doc_id in enumerate(tables.documents)}

    # ------------------------------------------------------------------ public
    def answer(self, query: Query, hits: Sequence[Hit], *, k: int | None = None) -> Answer:
        """Answer ``query`` (analysed for answering, with its vectors) from ``hits`` (best first). The
        top ``k`` hits are returned as passages, followed by any cited hit below the top ``k``, so
        every citation's passage is there."""
        passages = tuple(hits[: k or len(hits)])
        scored = self.score(query, hits[:CANDIDATE_PASSAGES])
        evidence = self.evidence(query, scored)
        asked = {"question": query.typed, "corrections": query.corrections, "query": query.text}
        chosen = select(scored) if scored else []
        # ---- issue 16: calibrated correctness estimate and verdict (crps_qa.answer.verdict) ----
        features = answer_features(self, query, scored, chosen, evidence=evidence)
        estimate = self.confidence.estimate(features)
        verdict = self.confidence.verdict(estimate, evidence=evidence, floor=self.refusal_threshold,
                                          missing=query.missing)
        if query.missing or evidence < self.refusal_threshold:  # never sure of a quote the evidence rules out
            estimate = min(estimate, confidence(evidence))
        found = {"verdict": verdict, "signals": tuple(features.items()),
                 "draft": " ".join(" ".join(s.quote.split()) for s in chosen)}
        if verdict == NOT_FOUND:
            return Answer(answer=REFUSAL, refused=True, confidence=estimate, citations=(),
                          passages=passages, missing_terms=query.missing, **asked, **found)
        # ---- end issue 16 ----
        citations = tuple(
            Citation(marker=n, doc_id=s.doc_id, title=s.hit.title, section=s.hit.section,
                     char_start=s.char_start, char_end=s.char_end, quote=s.quote, chunk_id=s.hit.chunk_id,
                     # the quote's own pages, not its passage's: a passage may start a page earlier (issue 17)
                     **dict(zip(("page", "page_end"),
                                self.data.texts[s.doc_id].page_span(s.char_start, s.char_end), strict=True)))
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
        return Answer(answer=text, refused=False, confidence=estimate, citations=citations,
                      passages=passages, **asked, **found)

    @staticmethod
    def evidence(query: Query, scored: Sequence[Scored]) -> float:
        """How well the best candidate supports an answer, in about [0, 1] (see module doc)."""
        best = max((s.support for s in scored), default=0.0)
        return best - UNKNOWN_PENALTY * query.unknown_share - (MISSING_PENALTY if query.missing else 0.0)

    def score(self, query: Query, hits: Sequence[Hit]) -> list[Scored]:
        """Every distinct sentence of ``hits``, and every pair of consecutive sentences of one hit,
        scored against ``query``. A sentence belongs to the first (best) hit that contains it.
        Reference lists and front matter are searchable but never quoted (issue 16)."""
        hits = [hit for hit in hits if hit.role in QUOTABLE]
        if not hits:
            return []
        question = query.text
        vector = (self.embedder.encode([question])[0] if query.vector is None else query.vector).reshape(-1)
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
            for i, (span, sentence_vector) in enumerate(zip(spans, vectors, strict=True)):
                key = (hit.doc_id, *span)
                if keep[i] and key not in seen:
                    units.append((hit, [span], [sentence_vector]))
                if pairable[i] and i + 1 < len(spans) and pairable[i + 1] and (hit.doc_id, *spans[i + 1]) not in seen:
                    units.append((hit, [span, spans[i + 1]], [sentence_vector, vectors[i + 1]]))
            seen.update((hit.doc_id, *span) for span in spans)
        if not units:
            return []
        q_total = sum(query.terms.values()) or 1.0
        top = max(h.score for h in hits)
        matches = self.match(query, [(hit.doc_id, spans) for hit, spans, _ in units])
        out = []
        for (hit, spans, vectors), match in zip(units, matches, strict=True):
            text = self.data.texts[hit.doc_id].text
            start, end = spans[0][0], spans[-1][1]
            quote = text[start:end]
            unit_vector = np.sum(vectors, axis=0)
            unit_vector = unit_vector / max(float(np.linalg.norm(unit_vector)), 1e-12)
            s_terms = set(self.analyzer.terms(quote))
            overlap = sum(w for t, w in query.terms.items() if t in s_terms) / q_total
            quantity = answer_type_match(question, quote)
            fragment = max(is_fragment(text[a:b]) for a, b in spans)
            passage = max(0.0, hit.score / top) if top > 0 else 0.0
            dense = max(0.0, float(unit_vector @ vector))
            out.append(Scored(hit.doc_id, start, end, quote, hit, dense, overlap, quantity, passage, unit_vector,
                              fragment, tuple(spans) if len(spans) > 1 else (), dense if match is None else match))
        return out

    def match(self, query: Query, units: Sequence[tuple[str, Sequence[tuple[int, int]]]]) -> list[float | None]:
        """Word-by-word match of the question with each unit (a document id and its sentence spans),
        see :class:`crps_qa.search.late.WordMatcher`; None for every unit when the embedder has no
        token vectors or the question no content word."""
        if self.matcher is None or not units:
            return [None] * len(units)
        return self.matcher.match(query.text, units, query.tokens)

    # ------------------------------------------------------------------ helpers
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


