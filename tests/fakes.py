"""Test doubles. FakeEmbedder is deterministic and instant: a hashed bag of stemmed words, so
texts sharing words are close and unrelated texts are far, which is enough to test retrieval."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from crps_qa.index.embed import TokenVectors
from crps_qa.index.lexical import tokenize

TOKEN_SLOTS = 1 << 16  # token vectors: wide enough that two words of a test never share a slot


class FakeEmbedder:
    def __init__(self, name: str = "fake", dimension: int = 64) -> None:
        self.name = name
        self.dimension = dimension
        self.calls = 0  # texts encoded so far, to check the vector cache
        self.token_calls = 0  # texts encoded to token vectors (answers)

    def encode(self, texts: Sequence[str], *, batch_size: int = 32, progress: bool = False) -> np.ndarray:
        self.calls += len(texts)
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for token in tokenize(text) or ["<empty>"]:
                slot = int(hashlib.md5(token.encode()).hexdigest(), 16) % self.dimension
                out[row, slot] += 1.0
            out[row] /= np.linalg.norm(out[row])
        return out

    def encode_tokens(self, texts: Sequence[str], *, batch_size: int = 32) -> list[TokenVectors]:
        """One hashed one-hot vector per stemmed word: word-by-word matching becomes exact word overlap."""
        self.token_calls += len(texts)
        out = []
        for pieces in self.word_pieces(texts):
            vectors = np.zeros((len(pieces), TOKEN_SLOTS), dtype=np.float32)
            for row, piece in enumerate(pieces):
                vectors[row, int(hashlib.md5(piece.encode()).hexdigest(), 16) % TOKEN_SLOTS] = 1.0
            out.append(TokenVectors(tuple(pieces), vectors))
        return out

    def encode_with_tokens(self, texts: Sequence[str], *, batch_size: int = 32
                           ) -> tuple[np.ndarray, list[TokenVectors]]:
        return self.encode(texts), self.encode_tokens(texts)

    def word_pieces(self, texts: Sequence[str]) -> list[list[str]]:
        return [tokenize(text) for text in texts]


class SmallTokenEmbedder(FakeEmbedder):
    """FakeEmbedder whose token vectors have the model's dimension, as a real transformer's do, so
    ``crps-qa index`` stores them (index.TokenTable). Words may share one of the 64 slots."""

    def encode_tokens(self, texts: Sequence[str], *, batch_size: int = 32) -> list[TokenVectors]:
        self.token_calls += len(texts)
        out = []
        for pieces in self.word_pieces(texts):
            vectors = np.zeros((len(pieces), self.dimension), dtype=np.float32)
            for row, piece in enumerate(pieces):
                vectors[row, int(hashlib.md5(piece.encode()).hexdigest(), 16) % self.dimension] = 1.0
            out.append(TokenVectors(tuple(pieces), vectors))
        return out


def analysed(pipeline, question: str):  # noqa: ANN001, ANN201 - a Pipeline; a Query
    """``question`` analysed for answering by ``pipeline``'s analyzer, not yet encoded (the
    answerer then encodes what it needs, as it does for a query without vectors)."""
    return pipeline.analyzer.analyze(question, answer=True)
