"""BM25 over passages (bm25s), with a tokenizer that is the same at index and query time.

    bm25 = Bm25Index.build(["Ketamine was infused at 14 mg/h."])
    scores = bm25.scores("ketamine infusion")          # one score per passage
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path

import bm25s
import numpy as np
import Stemmer

from crps_qa.vocab import STOP_WORDS

# bm25s sets its own logger to DEBUG on import, so every build printed "Building index from tokens"
logging.getLogger("bm25s").setLevel(logging.WARNING)

# "S-ketamine" → s, ketamine; "25mg/hr" → 25, mg, hr (so it matches "25 mg/hr"); "T0" stays t0;
# "0.5" stays whole. Lone letters other than digits are noise and dropped below.
_TOKEN = re.compile(r"[a-z]+\d*|\d+(?:\.\d+)?")
_STEMMER = Stemmer.Stemmer("english")  # stateless and thread-safe for stemWords


# "S-ketamine", "R-ketamine", "N-methyl": a one-letter prefix names a different substance, so the
# whole form is a token too ("s-ketamin"), beside the word it shares with the plain form.
_LETTER_PREFIXED = re.compile(r"(?<![a-z0-9-])([a-z])-([a-z]{3,})")


def tokenize(text: str) -> list[str]:
    """Lower-case, split on non-alphanumerics, drop stop-words and lone letters, Snowball-stem;
    a one-letter-prefixed word also yields its whole form ("s-ketamine" → "ketamin", "s-ketamin")."""
    lowered = text.lower()
    words = [w for w in _TOKEN.findall(lowered) if w not in STOP_WORDS and (len(w) > 1 or w.isdigit())]
    prefixed = _LETTER_PREFIXED.findall(lowered)  # [("s", "ketamine"), ...]
    stems = _STEMMER.stemWords(words + [word for _, word in prefixed])
    whole = [f"{letter}-{stem}" for (letter, _), stem in zip(prefixed, stems[len(words) :], strict=True)]
    return stems[: len(words)] + whole


class Bm25Index:
    """A BM25 index whose row i is passage i."""

    def __init__(self, model: bm25s.BM25, size: int) -> None:
        self._model = model
        self.size = size

    @classmethod
    def build(cls, texts: Sequence[str], *, k1: float = 1.2, b: float = 0.75) -> Bm25Index:
        model = bm25s.BM25(k1=k1, b=b)
        # bm25s refuses an empty document list; a corpus of only empty passages cannot happen
        # (the chunker drops them), but keep every row so ids line up.
        model.index([tokenize(t) or ["\u2400"] for t in texts], show_progress=False)
        return cls(model, len(texts))

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every passage for ``query`` (zeros when no query term is indexed)."""
        vocab = self._model.vocab_dict
        tokens = [t for t in tokenize(query) if t in vocab]
        if not tokens:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._model.get_scores(tokens), dtype=np.float32)

    def holders(self, term: str, rows: np.ndarray) -> np.ndarray:
        """Which of ``rows`` (text rows) contain ``term`` (a token as :func:`tokenize` makes it), from
        the term's postings: one lookup, whatever the number of texts."""
        i = self._model.vocab_dict.get(term)
        if i is None or not len(rows):
            return np.zeros(len(rows), dtype=bool)
        postings = self._model.scores
        start, end = int(postings["indptr"][i]), int(postings["indptr"][i + 1])
        found = np.asarray(postings["indices"][start:end])
        if len(found) > 1 and not np.all(found[1:] > found[:-1]):
            return np.isin(rows, found)
        at = np.minimum(np.searchsorted(found, rows), len(found) - 1)
        return found[at] == rows if len(found) else np.zeros(len(rows), dtype=bool)

    def save(self, directory: Path) -> None:
        self._model.save(str(directory), show_progress=False)

    @classmethod
    def load(cls, directory: Path, size: int) -> Bm25Index:
        # memory-mapped: about 600 bytes a passage, read on demand (a query reads its terms' postings)
        model = bm25s.BM25.load(str(directory), show_progress=False, mmap=True)
        return cls(model, size)
