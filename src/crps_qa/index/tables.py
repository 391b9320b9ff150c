"""Corpus statistics the query side needs, counted once when the index is built.

    tables = CorpusTables.build(data, word_pieces=embedder.word_pieces)   # at index time
    tables.save(build / "tables")
    tables = CorpusTables.load(build / "tables")                          # at load: read, not recounted

Opening a pipeline used to count these from every text: the speller's word counts, the
vocabulary that tells which question words no paper uses, the IDF of the answerer's terms and of
the word matcher's word pieces, and a BM25 index over whole documents (the document prior). That
grows with the corpus (minutes at 100k passages); stored, a load reads a few files. An index built
before this module has no tables, and the query side counts them as before.

Every count here is additive over documents and passages, and what is counted is fixed by the
functions below (the same ones the query side would use), so a stored table equals a recount.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING

from crps_qa.index.lexical import Bm25Index, tokenize
from crps_qa.ingest.abbrev import QueryExpander
from crps_qa.vocab import NUMBER_WORDS, document_frequencies

if TYPE_CHECKING:
    from crps_qa.index.store import IndexData

SPELLING_WORD = re.compile(r"[A-Za-z]+")  # what the speller counts
VOCABULARY_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*[A-Za-z]|[A-Za-z]")  # what the coverage check knows


def _lower_words(texts: Iterable[str], expansions: Sequence[tuple[str, str]], pattern: re.Pattern[str]
                 ) -> Iterator[str]:
    """Lower-cased ``pattern`` words of ``texts`` and of both sides of each abbreviation."""
    for text in chain(texts, (f"{short} {long}" for short, long in expansions)):
        yield from (w.lower() for w in pattern.findall(text))


def speller_counts(texts: Iterable[str], expansions: Sequence[tuple[str, str]] = ()) -> Counter[str]:
    """Lower-cased word counts of ``texts``, plus both sides of the corpus's abbreviations."""
    return Counter(_lower_words(texts, expansions, SPELLING_WORD))


def vocabulary(texts: Iterable[str], expansions: Sequence[tuple[str, str]] = ()) -> frozenset[str]:
    """Every lower-cased word of ``texts`` and of the abbreviations, and each part of a hyphenated one."""
    words = set(_lower_words(texts, expansions, VOCABULARY_WORD))
    return frozenset(words | {p for w in words for p in w.split("-") if p})


def terms(text: str, expander: QueryExpander) -> list[str]:
    """The answerer's terms of ``text``: BM25 tokens of the text expanded with the corpus's
    abbreviations, number words as digits ("four" → "4")."""
    return [NUMBER_WORDS.get(t, t) for t in tokenize(expander.expand(text))]


def document_order(data: IndexData) -> list[str]:
    """The documents the document prior scores, in index order (those with a cleaned text)."""
    return [doc_id for doc_id in data.documents if doc_id in data.texts]


@dataclass(frozen=True)
class CorpusTables:
    """See the module doc. ``piece_df`` is None when the index was built without a token encoder."""

    words: dict[str, int]
    vocabulary: frozenset[str]
    term_df: dict[str, int]
    piece_df: dict[str, int] | None
    passages: int
    expansions: tuple[tuple[str, str], ...]  # the abbreviations the terms were expanded with
    documents: tuple[str, ...]  # row i of ``doc_bm25`` is documents[i]
    doc_bm25: Bm25Index | None  # None with fewer than two documents (no prior to give)

    @classmethod
    def build(cls, data: IndexData, *, word_pieces: Callable[[Sequence[str]], list[list[str]]] | None = None,
              chunk: int = 4096) -> CorpusTables:
        """Count the tables of ``data`` (``word_pieces``: the encoder's tokenizer, for the word
        matcher's IDF; None leaves ``piece_df`` to be counted at query time)."""
        texts = [t.text for t in data.texts.values()]
        expansions = tuple((a, b) for a, b in data.expansions)
        expander = QueryExpander(dict(expansions))
        term_df, n = document_frequencies(terms(p.text, expander) for p in data.passages)
        piece_df = None
        if word_pieces is not None:
            passages = data.passages
            piece_df, _ = document_frequencies(
                pieces for start in range(0, len(passages), chunk)
                for pieces in word_pieces([p.text for p in passages[start : start + chunk]])
            )
        order = document_order(data)
        doc_bm25 = Bm25Index.build([data.texts[d].text for d in order]) if len(order) > 1 else None
        return cls(dict(speller_counts(texts, expansions)), vocabulary(texts, expansions), term_df, piece_df, n,
                   expansions, tuple(order), doc_bm25)

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        record = {
            "words": self.words, "vocabulary": sorted(self.vocabulary), "term_df": self.term_df,
            "piece_df": self.piece_df, "passages": self.passages, "expansions": [list(p) for p in self.expansions],
            "documents": list(self.documents),
        }
        (folder / "tables.json").write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
        if self.doc_bm25 is not None:
            self.doc_bm25.save(folder / "doc_bm25")

    @classmethod
    def load(cls, folder: Path) -> CorpusTables | None:
        """The tables saved in ``folder``; None when the index predates them (no folder)."""
        path = folder / "tables.json"
        if not path.exists():
            return None
        record = json.loads(path.read_text(encoding="utf-8"))
        documents = tuple(record["documents"])
        bm25 = Bm25Index.load(folder / "doc_bm25", size=len(documents)) if (folder / "doc_bm25").exists() else None
        return cls(record["words"], frozenset(record["vocabulary"]), record["term_df"], record["piece_df"],
                   record["passages"], tuple((a, b) for a, b in record["expansions"]), documents, bm25)
