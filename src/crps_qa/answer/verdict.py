"""How likely the chosen sentences answer the question, and what to tell the reader: three verdicts.

    features = answer_features(answerer, question, scored, chosen, evidence=0.51)
    p = CONFIDENCE.estimate(features)            # calibrated probability that the quote is right
    CONFIDENCE.verdict(p, evidence=0.51, floor=0.43, missing=())   # "answered" | "uncertain" | "not_found"

Features come from evidence the pipeline already has (issue 16), all in about [0, 1]:

* ``match``      word-by-word match of the best candidate (the answerer's ranking score);
* ``dense``      pooled MiniLM cosine of the best candidate with the question;
* ``bm25``       sentence-level BM25 of the best candidate, relative to the best BM25 of all candidates;
* ``agree``      share of the other two scorers (pooled cosine, sentence BM25) that also rank the best
  candidate first among the candidates: independent scorers agreeing is a sign of a right answer;
* ``margin``     best score minus the runner-up's (the best candidate that shares no sentence with it);
* ``other_paper`` 1 when the runner-up comes from another paper (the corpus is split on the question);
* ``focus``      IDF-weighted share of the question's content terms that the quoted sentence itself
  contains (abbreviations and number words expanded);
* ``type_asked`` / ``type_match``  the question asks for an amount (dose, rate, duration, count ...),
  and the sentence states a number with the right unit;
* ``rank``       1 / rank of the passage the best candidate came from;
* ``evidence``   the answerer's refusal evidence (match minus penalties for words no paper uses);
* ``unknown``    IDF-weighted share of question terms that no paper uses;
* ``sentences``  how many sentences the answer quotes (of 3); ``answer_focus`` the focus-term share of
  all of them together;
* ``ties``       candidates (sharing no sentence with the best) within TIE of its score, of 10;
* ``papers``     distinct papers among the five best candidates, of 5;
* ``retrieval_margin`` the fused-score gap between the two best passages, relative to the best;
* ``match_gap``  the best candidate's match minus the mean match of the ten best;
* ``question_terms`` content terms in the question, of 10;
* ``piece_min``  the weakest word of the question: the lowest, over the question's content word pieces, of
  its best cosine with a word piece of the best candidate (or of its paper's title line, as in the word
  matcher). The mean (``match``) forgives one unmatched word; an on-topic question that no paper answers
  is mostly matched, but the one thing it asks for ("heart rate", "cost", "how long ... last") is not;
* ``paper_gap``  how much better another paper among the candidates covers the question than the quoted
  one: the IDF-weighted share of the question's terms found anywhere in a paper (in its text as the
  index's documents' BM25 has it; an index without one: text and title line, abbreviations expanded),
  best over the candidates' papers minus the quoted paper's. A question about "the Rotterdam patients"
  answered from the amputation case report has a gap.

The model (FEATURES, eval/TUNING.md 2026-12-01 "third pass") uses ten of them: match, dense, bm25,
margin, focus, rank, evidence, match_gap, piece_min and paper_gap. The 19-feature model fitted before
(FORMER) ranked worse on every question set held out in turn except probe, holdout and holdout2 (pooled
leave-one-set-out AUROC over seven sets 0.68 against 0.74); the others are recorded in ``Answer.signals``.

Recorded in ``Answer.signals`` but left out of the model (TRIED: with them the pooled leave-one-set-out
AUROC fell from 0.787 to 0.769, eval/TUNING.md 2026-12-01 "second opinion"):

* ``specific_focus`` / ``passage_focus`` the IDF-weighted share of the question's *specific* terms (in
  fewer than SPECIFIC_SHARE of the passages: not CRPS, ketamine, pain ...) that the quoted sentences,
  or the best candidate's whole passage, contain (1 when the question has none): an on-topic question
  no paper answers tends to match the topic words and miss the specific ones;
* ``missing_idf`` the highest IDF of a question term absent from the best candidate's passage,
  relative to the IDF of a word no passage has (0 when every term is there).

With a second opinion (:mod:`crps_qa.answer.second_opinion`, all-mpnet-base-v2; setting
``second_opinion``), the question and the best SECOND_CANDIDATES candidates that share no sentence
are encoded by that independent model, adding (SECOND_FEATURES):

* ``mpnet``        its cosine of the question with the best candidate;
* ``mpnet_margin`` that cosine minus the best cosine of the other candidates encoded;
* ``mpnet_agree``  1 when it also ranks the best candidate first among them.

Without it those features are absent and the model fitted without them is used (``confidence.json``;
with them ``confidence-mpnet.json``).

The estimate is a logistic regression over these features, fitted by cross-validation over every
question set (``eval/fit_confidence.py`` writes ``confidence.json`` next to this module); the two
thresholds are chosen on the pooled out-of-fold estimates so that ``answered`` is right at least 85%
of the time and few answerable questions are ``not_found``. A question whose evidence is below the
refusal floor, or that names something no paper mentions, is always ``not_found``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from crps_qa.answer.candidates import ANSWER_TYPES, answer_type_match, shares_sentence
from crps_qa.errors import CrpsQaError
from crps_qa.search.late import TITLE_WEIGHT, is_content_piece

if TYPE_CHECKING:  # the answerer imports this module; only type hints go the other way
    from crps_qa.answer.answerer import Answerer
    from crps_qa.answer.candidates import Scored
    from crps_qa.answer.second_opinion import SentenceScorer
    from crps_qa.query.analyzer import Query

ANSWERED, UNCERTAIN, NOT_FOUND = "answered", "uncertain", "not_found"
VERDICTS = (ANSWERED, UNCERTAIN, NOT_FOUND)
FEATURES = ("match", "dense", "bm25", "margin", "focus", "rank", "evidence", "match_gap", "piece_min", "paper_gap")
FORMER = ("match", "dense", "bm25", "agree", "margin", "other_paper", "focus", "type_asked", "type_match",
          "rank", "evidence", "unknown", "sentences", "answer_focus", "ties", "papers", "retrieval_margin",
          "match_gap", "question_terms")  # the 19-feature model of the first two passes (confidence-mpnet.json)
TRIED = ("specific_focus", "passage_focus", "missing_idf")  # recorded, not in the model (see module doc)
SIGNALS = tuple(dict.fromkeys(FEATURES + FORMER + TRIED))  # every feature computed for an answer
SECOND_FEATURES = ("mpnet", "mpnet_margin", "mpnet_agree")  # only with a second opinion
TIE = 0.05  # candidates scoring within this of the best one are near ties
SPECIFIC_SHARE = 0.1  # a question term in fewer than this share of passages is specific
PAPER_CACHE = 512  # papers whose terms are kept for paper_gap (first in, first out)
SECOND_CANDIDATES = 5  # candidates the second opinion encodes with the question (the best one first)
COEFFICIENTS = Path(__file__).with_name("confidence.json")
COEFFICIENTS_SECOND = Path(__file__).with_name("confidence-mpnet.json")  # fitted with SECOND_FEATURES
BM25_K1, BM25_B = 1.2, 0.75  # the usual Okapi constants, at sentence level


def answer_features(
    answerer: Answerer, query: Query, scored: Sequence[Scored], chosen: Sequence[Scored], *, evidence: float,
) -> dict[str, float]:
    """The features of the answer ``chosen[0]`` (see module doc); all zero without candidates."""
    second = getattr(answerer, "second", None)
    if not scored or not chosen:
        return (dict.fromkeys(SIGNALS + (SECOND_FEATURES if second is not None else ()), 0.0)
                | {"evidence": evidence, "unknown": query.unknown_share})
    question = query.text
    best = chosen[0]
    ranked = sorted(scored, key=lambda s: s.score, reverse=True)
    runner = next((s for s in ranked if s is not best and not shares_sentence(s, best)), None)
    bm25 = sentence_bm25(answerer, query, scored)
    top_bm25 = max(bm25.values(), default=0.0)
    top_dense = max(s.dense for s in scored)
    best_bm25 = bm25.get(id(best), 0.0)
    agree = ((best.dense >= top_dense - 1e-9) + (top_bm25 > 0 and best_bm25 >= top_bm25 - 1e-9)) / 2
    asked = any(asks.search(question) for asks, _ in ANSWER_TYPES)
    q_terms = set(query.terms)
    q_total = sum(query.terms.values()) or 1.0
    said = set(answerer.analyzer.terms(" ".join(s.quote for s in chosen)))
    others = [s for s in ranked if not shares_sentence(s, best)]
    hit_scores = sorted({(s.hit.chunk_id, s.hit.score) for s in scored}, key=lambda h: h[1], reverse=True)
    top = hit_scores[0][1] if hit_scores else 0.0
    features = {
        "match": best.match,
        "dense": best.dense,
        "bm25": best_bm25 / top_bm25 if top_bm25 > 0 else 0.0,
        "agree": float(agree),
        "margin": best.score - runner.score if runner is not None else best.score,
        "other_paper": float(runner is not None and runner.doc_id != best.doc_id),
        "focus": best.overlap,
        "type_asked": float(asked),
        "type_match": answer_type_match(question, best.quote) if asked else 0.0,
        "rank": 1.0 / max(best.hit.rank, 1),
        "evidence": evidence,
        "unknown": query.unknown_share,
        "sentences": sum(len(s.spans) for s in chosen) / 3,
        "answer_focus": sum(query.terms[t] for t in q_terms & said) / q_total,
        "ties": min(sum(s.score >= best.score - TIE for s in others), 10) / 10,
        "papers": len({s.doc_id for s in ranked[:5]}) / 5,
        "retrieval_margin": (top - hit_scores[1][1]) / top if len(hit_scores) > 1 and top > 0 else 1.0,
        "match_gap": best.match - float(sum(s.match for s in ranked[:10]) / len(ranked[:10])),
        "question_terms": min(len(q_terms), 10) / 10,
        **specific_features(answerer, query, said, set(answerer.analyzer.terms(best.hit.text))),
        "piece_min": weakest_piece(answerer, query, best),
        "paper_gap": paper_gap(answerer, query, best.doc_id, {s.doc_id for s in scored}),
    }
    if second is not None:  # ---- the independent scorer (setting second_opinion) ----
        features |= second_opinion_features(second, question, [best, *others[: SECOND_CANDIDATES - 1]])
    return features


def specific_features(answerer: Answerer, query: Query, said: set[str], passage: set[str]) -> dict[str, float]:
    """``specific_focus``, ``passage_focus`` and ``missing_idf`` (see module doc) of the quoted terms
    ``said`` and the best candidate's passage terms ``passage``."""
    n = len(answerer.data.passages)
    cut = math.log((n + 1) / (SPECIFIC_SHARE * n + 0.5))  # IDF of a term in SPECIFIC_SHARE of passages
    specific = {t: w for t, w in query.terms.items() if w > cut}
    total = sum(specific.values())
    _, unseen = answerer.analyzer.idf()
    absent = [w for t, w in query.terms.items() if t not in passage]
    return {
        "specific_focus": sum(w for t, w in specific.items() if t in said) / total if total else 1.0,
        "passage_focus": sum(w for t, w in specific.items() if t in passage) / total if total else 1.0,
        "missing_idf": max(absent, default=0.0) / unseen if unseen > 0 else 0.0,
    }


def weakest_piece(answerer: Answerer, query: Query, best: Scored) -> float:
    """``piece_min`` (see module doc): per content word piece of the question, its best cosine with the
    candidate's sentences or TITLE_WEIGHT times that with its paper's title line, clipped to [0, 1]; the
    lowest of them. Without token vectors (no matcher, or a question without content pieces) it is the
    candidate's ``match``."""
    matcher = answerer.matcher
    asked = query.tokens
    if matcher is None or asked is None:
        return best.match
    keep = [i for i, t in enumerate(asked.tokens) if is_content_piece(t)]
    if not keep:
        return best.match
    q = asked.vectors[keep]
    sentences = matcher.token_vectors([(best.doc_id, a, b) for a, b in best.spans])
    title = matcher.title_vectors([best.doc_id])[best.doc_id]
    *of_sentences, of_title = matcher.products.best_of_many(q, [*sentences, title])
    per_piece = np.max([*of_sentences, TITLE_WEIGHT * of_title], axis=0)
    return float(np.clip(per_piece, 0.0, 1.0).min())


def paper_gap(answerer: Answerer, query: Query, quoted: str, papers: set[str]) -> float:
    """``paper_gap`` (see module doc): best coverage of the question's terms by one of ``papers`` minus
    that by the ``quoted`` paper."""
    total = sum(query.terms.values())
    if not total:
        return 0.0
    cover = paper_cover(answerer, query, sorted(papers | {quoted}))
    return (max(cover.values()) - cover[quoted]) / total


def paper_cover(answerer: Answerer, query: Query, papers: list[str]) -> dict[str, float]:
    """The IDF weight of the question's terms that each paper has. From the postings of the index's
    documents' BM25 (made at index time: one lookup a term, whatever the corpus's size) when it has
    one; else from each paper's text and title line (``paper_terms``: a paper of 5,000 words costs
    ~5 ms the first time, too slow when the candidates come from new papers at every ask)."""
    tables = getattr(answerer.data, "tables", None)
    bm25 = None if tables is None else tables.doc_bm25
    if bm25 is None:
        return {d: sum(w for t, w in query.terms.items() if t in paper_terms(answerer, d)) for d in papers}
    position = answerer.document_rows
    rows = np.array([position.get(d, -1) for d in papers], dtype=np.int64)
    cover = np.zeros(len(papers))
    for term, weight in query.terms.items():
        cover += weight * bm25.holders(term, rows)
    return dict(zip(papers, cover.tolist(), strict=True))


def paper_terms(answerer: Answerer, doc_id: str) -> frozenset[str]:
    """The terms of a paper's text and title line, read once per paper (kept on the answerer, the
    PAPER_CACHE most recently read). Safe when the service's threads share the answerer: no lock,
    a paper read twice at once is read twice, and an eviction that meets another thread's is skipped."""
    cache = answerer.paper_terms
    found = cache.get(doc_id)
    if found is None:
        text = answerer.data.texts.get(doc_id)
        info = answerer.data.documents.get(doc_id)
        words = " ".join(x for x in (text.text if text else "", info.title if info else "") if x)
        found = frozenset(answerer.analyzer.terms(words))
        while len(cache) >= PAPER_CACHE:
            try:
                cache.pop(next(iter(cache)), None)
            except (StopIteration, RuntimeError):  # emptied or changed by another thread meanwhile
                break
        cache[doc_id] = found
    return found


def second_opinion_features(scorer: SentenceScorer, question: str, candidates: Sequence[Scored]) -> dict[str, float]:
    """``mpnet``, ``mpnet_margin``, ``mpnet_agree`` (see module doc); ``candidates[0]`` is the best."""
    vectors = scorer.encode([question, *(" ".join(s.quote.split()) for s in candidates)])
    cosines = vectors[1:] @ vectors[0]
    rest = float(cosines[1:].max()) if len(cosines) > 1 else 0.0
    return {"mpnet": float(cosines[0]), "mpnet_margin": float(cosines[0]) - rest,
            "mpnet_agree": float(len(cosines) == 1 or cosines[0] >= rest - 1e-9)}


def sentence_bm25(answerer: Answerer, query: Query, scored: Sequence[Scored]) -> dict[int, float]:
    """Okapi BM25 of each candidate (keyed by ``id``) against the question's content terms, with the
    corpus IDF of the question's terms and lengths relative to the candidates' mean length."""
    q_terms = query.terms
    docs = {id(s): answerer.analyzer.terms(s.quote) for s in scored}
    mean_len = sum(len(t) for t in docs.values()) / max(len(docs), 1) or 1.0
    out = {}
    for key, terms in docs.items():
        counts: dict[str, int] = {}
        for t in terms:
            counts[t] = counts.get(t, 0) + 1
        norm = BM25_K1 * (1 - BM25_B + BM25_B * len(terms) / mean_len)
        out[key] = sum(q_terms[t] * counts[t] * (BM25_K1 + 1) / (counts[t] + norm)
                       for t in q_terms if t in counts)
    return out


@dataclass(frozen=True)
class Confidence:
    """A fitted logistic model (standardised features) and the two verdict thresholds."""

    features: tuple[str, ...]
    means: tuple[float, ...]
    scales: tuple[float, ...]
    weights: tuple[float, ...]
    intercept: float
    answer_threshold: float  # estimate at or above which a question is "answered"
    uncertain_threshold: float  # estimate below which it is "not_found" (between: "uncertain")

    @classmethod
    def load(cls, path: Path = COEFFICIENTS) -> Confidence:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            return cls(tuple(raw["features"]), tuple(raw["means"]), tuple(raw["scales"]), tuple(raw["weights"]),
                       float(raw["intercept"]), float(raw["answer_threshold"]), float(raw["uncertain_threshold"]))
        except (OSError, KeyError, TypeError, ValueError) as exc:
            raise CrpsQaError(
                f"The confidence model {path} is missing or unreadable ({exc}). Refit it with: "
                "python eval/fit_confidence.py"
            ) from exc

    def estimate(self, features: Mapping[str, float]) -> float:
        """Probability that the quoted answer contains the right answer."""
        z = self.intercept + sum(w * (features.get(name, 0.0) - m) / s
                                 for name, m, s, w in zip(self.features, self.means, self.scales, self.weights,
                                                          strict=True))
        return 1.0 / (1.0 + math.exp(-max(min(z, 60.0), -60.0)))

    def verdict(self, estimate: float, *, evidence: float, floor: float, missing: Sequence[str] = ()) -> str:
        """answered / uncertain / not_found (see module doc)."""
        if missing or evidence < floor or estimate < self.uncertain_threshold:
            return NOT_FOUND
        return ANSWERED if estimate >= self.answer_threshold else UNCERTAIN
