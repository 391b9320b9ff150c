"""The word matcher's one large product (crps_qa.search.products)."""

import numpy as np

from crps_qa.index.embed import TokenVectors
from crps_qa.search.products import TokenProducts


def tokens(*rows: list[float]) -> TokenVectors:
    return TokenVectors(tuple(f"t{i}" for i in range(len(rows))), np.array(rows, dtype=np.float32).reshape(-1, 2))


def test_each_sentence_gets_each_question_piece_best_cosine() -> None:
    question = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    first = tokens([0.6, 0.8], [1.0, 0.0])  # piece 1: best 1.0; piece 2: best 0.8
    second = tokens([0.0, -1.0])  # piece 1: 0.0; piece 2: -1.0
    best = TokenProducts().best_of_many(question, [first, second])
    np.testing.assert_allclose(best[0], [1.0, 0.8], atol=1e-6)
    np.testing.assert_allclose(best[1], [0.0, -1.0], atol=1e-6)


def test_a_sentence_without_word_pieces_scores_zero_and_keeps_its_place() -> None:
    question = np.array([[1.0, 0.0]], dtype=np.float32)
    empty = TokenVectors((), np.zeros((0, 2), dtype=np.float32))
    best = TokenProducts().best_of_many(question, [empty, tokens([0.5, 0.5]), empty])
    assert [b.tolist() for b in best] == [[0.0], [0.5], [0.0]]


def test_the_product_equals_numpys() -> None:
    rng = np.random.default_rng(0)
    question, many = rng.standard_normal((7, 384)), rng.standard_normal((500, 384))
    np.testing.assert_allclose(TokenProducts().cosines(question, many), many @ question.T, rtol=1e-4, atol=1e-3)
