"""Word-by-word (late-interaction) matching of a question against sentences, as in ColBERT.

    matcher = WordMatcher(index_data, embedder, expander)      # embedder: a TokenEncoder
    matcher.match("How was the dose raised?", [(doc_id, [(start, end)])])   # [0.71]
    matcher.passage_match("How was the dose raised?", [row, ...])          # best sentence per passage

For every content word piece of the question (not punctuation, a stop-word or a question word),
take its best cosine with any word piece of the sentence, using the model's contextual token
vectors, clip to [0, 1] and average with IDF weights (word-piece document frequency over the
passages). 1 when every question word has an exact counterpart. Unlike the cosine of two pooled
sentence vectors, which rewards a sentence for being on the question's topic, this asks whether
the sentence covers each thing the question asks about, by meaning ("calm inflammation" ~
"anti-inflammatory", "hurt" ~ "injury").

A sentence is read as part of its paper: a question word may instead be matched by the paper's
title line (catalog title, authors, study type) at TITLE_WEIGHT, so "in the Mackay review" or "the
Rotterdam protocol" counts for every sentence of that paper, not only the one that repeats the
name. Sentences are expanded with the corpus's abbreviations before encoding (so "complex regional
pain syndrome" meets "CRPS"), and a table row is read after its table's caption.

Used twice: hybrid retrieval re-scores its best passages by their best sentence's match
(:meth:`crps_qa.search.retrieve.Retriever.interact`), and the answerer ranks candidate sentences by it.
Sentence token vectors come from the index when ``crps-qa index`` stored them
(:class:`crps_qa.index.store.TokenTable`, built with the same expansions), else they are encoded on
first use and cached (TOKEN_CACHE sentences); the question's come from the caller when it has
them (``Embedder.encode_with_tokens``).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from crps_qa.index.embed import TokenEncoder, TokenVectors
from crps_qa.index.match_text import match_text
from crps_qa.index.store import IndexData
from crps_qa.ingest.abbrev import QueryExpander
from crps_qa.ingest.chunk import split_sentences
from crps_qa.search.products import TokenProducts
from crps_qa.vocab import IGNORED, idf_from_df, idf_table

TOKEN_CACHE = 20_000  # sentences whose token vectors are kept (~45 KB each: at most about 0.9 GB)
QUESTION_MEMO = 8  # questions whose per-sentence matches are remembered (see WordMatcher._best)
TITLE_WEIGHT = 0.9  # a question word matched by the paper's title line counts this much (eval/TUNING.md)

Unit = tuple[str, Sequence[tuple[int, int]]]  # a document id and the spans of one or more sentences


class WordMatcher:
    """Late-interaction scores over one index. Thread-safe (the caches are locked)."""

    def __init__(self, data: IndexData, encoder: TokenEncoder, expander: QueryExpander | None = None) -> None:
        self.data = data
        self.encoder = encoder
        self.expander = expander or QueryExpander({})
        tables = data.tables  # word-piece counts made at index time by the same tokenizer (None: older index)
        if tables is not None and tables.piece_df is not None:
            self._idf, self._unseen_idf = idf_from_df(tables.piece_df, tables.passages)
        else:
            self._idf, self._unseen_idf = idf_table(encoder.word_pieces([p.text for p in data.passages]))
        # documents indexed without their cleaned text (BEIR): one passage each, from offset 0
        self._passage_text = {
            p.doc_id: p.text for doc_id, rows in data.rows_of_doc.items() if doc_id not in data.texts
            for p in (data.passages[int(row)] for row in rows) if not p.char_start
        }
        # the index's token vectors are of sentences expanded with the index's own abbreviations:
        # usable only when this matcher expands the same way (the query_expansion setting is on)
        stored = data.tokens
        same = stored is not None and self.expander.pairs == QueryExpander(dict(data.expansions)).pairs
        self.stored = stored if same else None
        self._cache: OrderedDict[tuple[str, int, int], TokenVectors] = OrderedDict()
        self._titles: dict[str, TokenVectors] = {}
        self._memo: OrderedDict[bytes, dict[tuple[str, int, int], np.ndarray]] = OrderedDict()  # see _best
        self.products = TokenProducts()  # the question x word-piece cosines
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ scores
    def question(self, question: str) -> TokenVectors:
        """The question's token vectors (one model pass)."""
        return self.encoder.encode_tokens([question])[0]

    def match(self, question: str, units: Sequence[Unit], question_tokens: TokenVectors | None = None
              ) -> list[float | None]:
        """The match of the question with each unit, in [0, 1]; a unit of several sentences takes,
        per question piece, the best of its sentences. None for every unit when the question has
        no content word. ``question_tokens``: the question's token vectors when the caller has them."""
        if not units:
            return []
        asked = question_tokens if question_tokens is not None else self.question(question)
        keep = [i for i, t in enumerate(asked.tokens) if is_content_piece(t)]
        if not keep:
            return [None] * len(units)
        weights = np.array([self._idf.get(asked.tokens[i], self._unseen_idf) for i in keep], dtype=np.float32)
        weights /= weights.sum()
        q = asked.vectors[keep]
        keys = sorted({(doc_id, a, b) for doc_id, spans in units for a, b in spans})
        best = self._best(q, keys)
        doc_ids = sorted({doc_id for doc_id, _ in units})
        titles = self.title_vectors(doc_ids)
        # one row per sentence, then one per paper's title line; each unit takes, per question
        # piece, the best of its sentences' rows and its title's row
        rows = np.stack([best[key] for key in keys]
                        + [TITLE_WEIGHT * b for b in self.products.best_of_many(q, [titles[d] for d in doc_ids])])
        row_of = {key: i for i, key in enumerate(keys)} | {d: len(keys) + i for i, d in enumerate(doc_ids)}
        picks = [row_of[key] for doc_id, spans in units for key in [*((doc_id, a, b) for a, b in spans), doc_id]]
        starts = np.cumsum([0] + [len(spans) + 1 for _, spans in units[:-1]])
        per_piece = np.maximum.reduceat(rows[picks], starts, axis=0)
        return [float(score) for score in np.clip(per_piece, 0.0, 1.0) @ weights]

    def _best(self, q: np.ndarray, keys: list[tuple[str, int, int]]) -> dict[tuple[str, int, int], np.ndarray]:
        """Each sentence's best cosine per question piece. Remembered for the last few questions:
        an ask matches the question twice (re-scoring the passages, then choosing the sentences)
        over mostly the same sentences, and only the new ones are computed the second time."""
        question = q.tobytes()
        with self._lock:
            memo = self._memo.pop(question, {})
            self._memo[question] = memo  # most recent last
            while len(self._memo) > QUESTION_MEMO:
                self._memo.popitem(last=False)
            need = [key for key in keys if key not in memo]
        if need:
            computed = self._compute(q, need)
            with self._lock:
                memo.update(computed)
        return {key: memo[key] for key in keys}

    def _compute(self, q: np.ndarray, keys: list[tuple[str, int, int]]) -> dict[tuple[str, int, int], np.ndarray]:
        """Each sentence's best cosine per question piece. Sentences the index stores and the cache
        does not hold are scored together from their stored codes (:meth:`TokenTable.best_cosines`:
        nothing decoded, no per-sentence arrays to cache); the others come from :meth:`token_vectors`."""
        stored = self.stored
        with self._lock:
            in_store = [] if stored is None else [key for key in keys if key not in self._cache and key in stored]
        out: dict[tuple[str, int, int], np.ndarray] = {}
        if in_store:
            out.update(zip(in_store, stored.best_cosines(in_store, q), strict=True))
        rest = [key for key in keys if key not in out]
        if rest:
            out.update(zip(rest, self.products.best_of_many(q, self.token_vectors(rest)), strict=True))
        return out

    def passage_match(self, question: str, rows: Sequence[int], question_tokens: TokenVectors | None = None,
                      nearest: tuple[np.ndarray | None, int] | None = None) -> list[float] | None:
        """For each passage row, the match of its best single sentence (0 for a passage without
        one); None when the question has no content word. ``nearest``: (the question's vector, k)
        to read only each passage's k sentences nearest the question by sentence vector."""
        spans = self.spans_of(rows, nearest)
        units = [(self.data.passages[row].doc_id, [span]) for row, row_spans in zip(rows, spans, strict=True)
                 for span in row_spans]
        scores = self.match(question, units, question_tokens)
        if any(s is None for s in scores):
            return None
        out, i = [], 0
        for row_spans in spans:
            out.append(max(scores[i : i + len(row_spans)], default=0.0))  # type: ignore[type-var]
            i += len(row_spans)
        return out  # type: ignore[return-value]

    def sentence_spans(self, row: int, nearest: tuple[np.ndarray | None, int] | None = None
                       ) -> list[tuple[int, int]]:
        """Spans of passage ``row``'s sentences: from the index's sentence table, else split here.
        ``nearest``: (a question's vector, k) keeps only the k sentences whose vectors are nearest
        it, in text order (the index's sentence vectors; all sentences without them)."""
        return self.spans_of([row], nearest)[0]

    def spans_of(self, rows: Sequence[int], nearest: tuple[np.ndarray | None, int] | None = None
                 ) -> list[list[tuple[int, int]]]:
        """:meth:`sentence_spans` of several passages, the cosines from one product."""
        table, ids = self.data.sentences, [self.data.sentence_ids[row] for row in rows]
        sizes = np.array([len(i) for i in ids], dtype=np.int64)
        out: list[list[tuple[int, int]]] = [[] for _ in rows]
        if table is not None and sizes.any():
            flat = np.concatenate([np.asarray(i, dtype=np.int64) for i in ids])
            owner = np.repeat(np.arange(len(rows)), sizes)  # which passage each sentence belongs to
            keep = np.arange(len(flat))
            vector, k = nearest if nearest is not None else (None, 0)
            if vector is not None and 0 < k < sizes.max():
                cosines = table.vectors[flat] @ vector.reshape(-1)
                order = np.lexsort((-cosines, owner))  # by passage, nearest first; ties in text order
                rank = np.arange(len(flat)) - (np.cumsum(sizes) - sizes)[owner[order]]
                keep = np.sort(order[rank < k])
            for i, start, end in zip(owner[keep].tolist(), table.starts[flat[keep]].tolist(),
                                     table.ends[flat[keep]].tolist(), strict=True):
                out[i].append((start, end))
        for i, row in enumerate(rows):
            if not sizes[i]:
                p = self.data.passages[row]
                out[i] = split_sentences(self.text(p.doc_id), p.char_start, p.char_end)
        return out

    # ------------------------------------------------------------------ texts and caches
    def title_line(self, doc_id: str) -> str:
        """What a paper is known by: its title, authors and study type (from the catalog)."""
        info = self.data.documents.get(doc_id)
        if info is None:
            return ""
        return " ".join(part for part in (info.title, info.authors, info.study_type) if part)

    def text(self, doc_id: str) -> str:
        """The document's cleaned text (the text its sentence spans index)."""
        document = self.data.texts.get(doc_id)
        return document.text if document is not None else self._passage_text.get(doc_id, "")

    def match_text(self, doc_id: str, start: int, end: int) -> str:
        """The sentence as the matcher reads it (:func:`crps_qa.index.match_text.match_text`): after its
        table's caption, expanded like the question is for BM25. ``crps-qa index`` stores the token
        vectors of this text."""
        document = self.data.texts.get(doc_id)
        sections = document.sections if document is not None else ()
        return match_text(self.text(doc_id), sections, start, end, self.expander)

    def token_vectors(self, keys: list[tuple[str, int, int]]) -> list[TokenVectors]:
        """Token vectors of the sentences (document id, start, end): cached, else read from the
        index's token table, else encoded (in one batch). The cache keeps the TOKEN_CACHE most
        recently used sentences, as float32, however they were found."""
        with self._lock:
            missing = [key for key in dict.fromkeys(keys) if key not in self._cache]
        if missing:
            found: dict[tuple[str, int, int], TokenVectors] = {}
            if self.stored is not None:
                for key in missing:
                    vectors = self.stored.get(key)
                    if vectors is not None:
                        found[key] = TokenVectors((), vectors)
            todo = [key for key in missing if key not in found]
            if todo:
                encoded = self.encoder.encode_tokens([self.match_text(*key) for key in todo])
                found.update(zip(todo, encoded, strict=True))
            with self._lock:
                self._cache.update(found)
        with self._lock:
            out = [self._cache[key] for key in keys]  # evicted only below, after reading
            for key in keys:
                self._cache.move_to_end(key)
            while len(self._cache) > TOKEN_CACHE:
                self._cache.popitem(last=False)
        return out

    def title_vectors(self, doc_ids: list[str]) -> dict[str, TokenVectors]:
        """Token vectors of the papers' title lines (encoded once per paper, expanded like sentences)."""
        with self._lock:
            missing = [d for d in doc_ids if d not in self._titles]
        if missing:
            lines = [self.expander.expand(self.title_line(d)) for d in missing]
            encoded = contiguous(self.encoder.encode_tokens(lines))
            with self._lock:
                self._titles.update(zip(missing, encoded, strict=True))
        with self._lock:
            return {d: self._titles[d] for d in doc_ids}

    def cached(self) -> int:
        """How many sentences' token vectors are cached."""
        with self._lock:
            return len(self._cache)


def is_content_piece(piece: str) -> bool:
    """A word piece that says what the question is about: not punctuation, a stop-word, a question
    word or a special token such as the tokenizer's [UNK] for an emoji ("##" continuations of a
    content word count)."""
    special = piece.startswith("[") and piece.endswith("]") and piece[1:-1].isupper()
    return any(c.isalnum() for c in piece) and piece not in IGNORED and not special


def contiguous(encoded: Sequence[TokenVectors]) -> list[TokenVectors]:
    """The same token vectors, as views of one array: a query reads ~30 title lines together, and
    reading them from one block of memory instead of scattered arrays saved ~0.3 ms of a SciFact
    query (bench/RESULTS.md)."""
    if not encoded:
        return []
    block = np.concatenate([np.asarray(tv.vectors, dtype=np.float32) for tv in encoded])
    ends = np.cumsum([len(tv.vectors) for tv in encoded])
    return [TokenVectors(tv.tokens, block[end - len(tv.vectors) : end]) for tv, end in zip(encoded, ends, strict=True)]
