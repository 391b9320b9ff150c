"""Compressed token vectors (index/tokens.py): 48 bytes per word piece instead of 768, decoded
only for the sentences asked for, and word-by-word match scores that rank sentences as the exact
vectors do."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from crps_qa.index import tokens as token_module
from crps_qa.index.build import build
from crps_qa.index.store import current_build, load_index
from crps_qa.index.tokens import TokenCodec, TokenTable, TokenWriter
from crps_qa.pipeline import Pipeline
from fakes import SmallTokenEmbedder


def clustered(n: int, dimension: int, seed: int = 0) -> np.ndarray:
    """Unit vectors near 40 directions, as contextual token vectors are (near their word's)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(40, dimension))
    vectors = centres[rng.integers(0, 40, n)] + 0.3 * rng.normal(size=(n, dimension))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def test_a_384_wide_vector_becomes_48_bytes_and_decodes_close_to_itself():
    vectors = clustered(2600, 384)
    codec = TokenCodec.train(vectors)
    codes = codec.encode(vectors)
    assert codes.shape == (2600, 48) and codes.dtype == np.uint8  # 768 bytes as float16 → 48
    decoded = codec.decode(codes)
    assert np.allclose(np.linalg.norm(decoded, axis=1), 1.0, atol=1e-5)
    assert (decoded * vectors).sum(axis=1).mean() > 0.9


def test_the_writer_keeps_float16_for_a_small_corpus_and_codes_past_the_threshold(monkeypatch):
    monkeypatch.setattr(token_module, "MIN_CODED_TOKENS", 1000)
    keys = [("paper", 10 * i, 10 * i + 9) for i in range(50)]
    small, large = TokenWriter(64), TokenWriter(64)
    rows = [clustered(30, 64, seed=i) for i in range(50)]
    for i, vectors in enumerate(rows[:20]):  # 600 pieces
        small.add(f"s{i}", vectors)
    for i, vectors in enumerate(rows):  # 1,500 pieces
        large.add(f"s{i}", vectors)
    assert small.table(keys[:20], [f"s{i}" for i in range(20)]).vectors.dtype == np.float16
    table = large.table(keys, [f"s{i}" for i in range(50)])
    assert table.codec is not None and table.codes.shape == (1500, 32)  # 64 dimensions: 32 sub-vectors of 2
    assert table.get(keys[3]).shape == (30, 64) and ("paper", 0, 9) in table and ("paper", 1, 2) not in table


def test_training_starts_once_enough_pieces_arrive_and_later_ones_are_stored_as_codes(monkeypatch):
    monkeypatch.setattr(token_module, "TRAIN_TOKENS", 600)
    writer = TokenWriter(64)
    for i in range(19):
        writer.add(f"s{i}", clustered(30, 64, seed=i))
    assert writer.codec is None  # 570 pieces
    writer.add("s19", clustered(30, 64, seed=19))
    assert writer.codec is not None and all(r.dtype == np.uint8 for r in writer._rows.values())
    writer.add("s20", clustered(30, 64, seed=20))
    assert writer._rows["s20"].dtype == np.uint8


def test_a_coded_table_saves_and_loads_memory_mapped(tmp_path):
    vectors = [clustered(25, 64, seed=i) for i in range(40)]
    keys = [(f"paper-{i % 3}", i, i + 5) for i in range(40)]
    codec = TokenCodec.train(np.concatenate(vectors))
    table = TokenTable.coded(keys, [codec.encode(v) for v in vectors], codec)
    table.save(tmp_path)
    loaded = TokenTable.load(tmp_path)
    assert isinstance(loaded.codes, np.memmap) and loaded.pieces == 1000 and len(loaded) == 40
    for key in keys:
        assert np.array_equal(loaded.get(key), table.get(key))
    assert not (tmp_path / "token_vectors.npy").exists()


def test_decoding_is_the_centroids_of_each_code_made_unit_length():
    vectors = clustered(300, 16)
    codec = TokenCodec.train(vectors, code_bytes=4)  # 4 sub-vectors of 4 dimensions
    codes = codec.encode(vectors)
    by_hand = np.concatenate([codec.centroids[m, codes[:, m]] for m in range(4)], axis=1)
    raw, lengths = codec.decode_with_norms(codes)
    assert np.array_equal(raw, by_hand)
    np.testing.assert_allclose(lengths, np.linalg.norm(by_hand, axis=1), rtol=1e-6)
    np.testing.assert_allclose(codec.decode(codes), by_hand / lengths[:, None], rtol=1e-6)


def test_each_code_is_its_sub_vectors_nearest_centroid():
    vectors = clustered(500, 384, seed=3)
    codec = TokenCodec.train(vectors)
    parts = vectors.reshape(500, 48, 8)
    distances = ((parts[:, :, None, :] - codec.centroids[None]) ** 2).sum(axis=-1)  # (500, 48, 256)
    assert np.array_equal(codec.encode(vectors), distances.argmin(axis=-1))


def test_a_block_of_sentences_is_their_rows_one_after_another(tmp_path):
    vectors = [clustered(n, 64, seed=n) for n in (3, 0, 5)]  # the middle sentence has no word pieces
    keys = [("a", 0, 9), ("a", 10, 12), ("b", 0, 20)]
    codec = TokenCodec.train(clustered(2000, 64))
    table = TokenTable.coded(keys, [codec.encode(v) for v in vectors], codec)
    table.save(tmp_path)
    loaded = TokenTable.load(tmp_path)
    raw, lengths, sizes = loaded.block([("b", 0, 20), ("a", 10, 12), ("a", 0, 9)])  # any order
    assert sizes.tolist() == [5, 0, 3]
    unit = raw / lengths[:, None]
    np.testing.assert_allclose(unit[:5], table.get(("b", 0, 20)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(unit[5:], table.get(("a", 0, 9)), rtol=1e-5, atol=1e-6)
    plain = TokenTable.of(keys, vectors, 64)  # float16, already unit length
    raw, lengths, sizes = plain.block(keys)
    assert sizes.tolist() == [3, 0, 5] and np.all(lengths == 1.0) and raw.shape == (8, 64)


def test_best_cosines_from_codes_equal_decoding_and_multiplying(tmp_path):
    vectors = [clustered(n, 64, seed=n) for n in (4, 0, 7, 1)]  # the second sentence has no word pieces
    keys = [("a", 0, 9), ("a", 10, 12), ("b", 0, 20), ("c", 5, 6)]
    codec = TokenCodec.train(clustered(2000, 64))
    TokenTable.coded(keys, [codec.encode(v) for v in vectors], codec).save(tmp_path)
    table = TokenTable.load(tmp_path)  # memory-mapped codes, as an index serves them
    question = clustered(3, 64, seed=99)
    asked = [("c", 5, 6), ("b", 0, 20), ("a", 10, 12), ("a", 0, 9)]  # any order
    by_hand = [(table.get(key) @ question.T).max(axis=0) if table.get(key).size else np.zeros(3) for key in asked]
    best = table.best_cosines(asked, question)
    assert best.shape == (4, 3) and best.dtype == np.float32
    np.testing.assert_allclose(best, np.stack(by_hand), atol=1e-6)
    assert best[2].tolist() == [0.0, 0.0, 0.0]
    assert table.best_cosines([], question).shape == (0, 3)


def test_best_cosines_of_a_float16_table_are_its_vectors_products():
    vectors = [clustered(n, 16, seed=n) for n in (2, 0, 3)]
    keys = [("a", 0, 9), ("a", 10, 12), ("b", 0, 20)]
    table = TokenTable.of(keys, vectors, 16)
    question = np.eye(16, dtype=np.float32)[:2]  # the products are the vectors' first two coordinates
    stored = [v.astype(np.float16).astype(np.float32) for v in vectors]
    expected = [stored[2][:, :2].max(axis=0), [0.0, 0.0], stored[0][:, :2].max(axis=0)]
    np.testing.assert_allclose(table.best_cosines([keys[2], keys[1], keys[0]], question), expected, atol=1e-6)


def test_an_index_past_the_threshold_stores_codes_and_answers_from_them(tiny_settings, tiny_corpus, monkeypatch):
    monkeypatch.setattr(token_module, "MIN_CODED_TOKENS", 10)  # and at least 256 pieces, one per centroid
    words = ["infusion", "dose", "nausea", "pain", "relief", "skin", "foot", "temperature", "week", "patient"]
    sentences = [f"The {words[i % 10]} of case {i} changed with {words[(i * 3) % 10]} on day {i}." for i in range(40)]
    (tiny_corpus / "cases.txt").write_text("Case series\n\nResults\n\n" + " ".join(sentences), encoding="utf-8")
    embedder = SmallTokenEmbedder()
    build(tiny_settings, embedder)
    folder = current_build(tiny_settings.index_dir)
    assert (folder / "token_codes.npy").exists() and not (folder / "token_vectors.npy").exists()
    assert load_index(tiny_settings.index_dir).tokens.codec is not None
    answer = Pipeline.open(tiny_settings, embedder=embedder).ask("What was the maximum infusion rate?")
    assert not answer.refused and "40 mg/h" in answer.answer
    # an unchanged corpus copies the codes (and the codebook) of the build before
    assert build(tiny_settings, embedder).tokens_encoded == 0
    assert np.array_equal(np.load(current_build(tiny_settings.index_dir) / "token_codebook.npy"),
                          np.load(folder / "token_codebook.npy"))


@pytest.mark.model
def test_compressed_match_scores_rank_sentences_like_exact_ones(real_pipeline):
    """For eval questions, the word-by-word match of every sentence of the corpus from stored
    (compressed) vectors against exact ones: Spearman over sentences, per question."""
    from crps_qa.evaluate.harness import load_questions
    from test_real_corpus import QUESTIONS

    matcher = real_pipeline.retriever.matcher
    stored = matcher.stored
    assert stored is not None and stored.codec is not None  # the corpus has ~30k word pieces
    keys = sorted(stored._row)
    encoder = real_pipeline.embedder
    exact = encoder.encode_tokens([matcher.match_text(*key) for key in keys])
    correlations = []
    for question in load_questions(QUESTIONS)[:20]:
        units = [(key[0], [key[1:]]) for key in keys]
        compressed = matcher.match(question.question, units)
        matcher._cache.clear()
        matcher._cache.update(zip(keys, exact, strict=True))
        precise = matcher.match(question.question, units)
        matcher._cache.clear()
        correlations.append(spearmanr(compressed, precise)[0])
    assert min(correlations) >= 0.9 and np.mean(correlations) >= 0.97


def test_warming_a_pipeline_readies_the_kernel_that_scores_stored_codes(tiny_settings, tiny_corpus, monkeypatch):
    monkeypatch.setattr(token_module, "MIN_CODED_TOKENS", 10)
    words = ["infusion", "dose", "nausea", "pain", "relief", "skin", "foot", "temperature", "week", "patient"]
    sentences = [f"The {words[i % 10]} of case {i} changed with {words[(i * 7) % 10]} on day {i}." for i in range(40)]
    (tiny_corpus / "cases.txt").write_text("Case series\n\nResults\n\n" + " ".join(sentences), encoding="utf-8")
    embedder = SmallTokenEmbedder()
    build(tiny_settings, embedder)
    pipeline = Pipeline.open(tiny_settings, embedder=embedder)
    calls = []
    scored = TokenCodec.best_cosines
    monkeypatch.setattr(TokenCodec, "best_cosines", lambda self, *args: calls.append(args) or scored(self, *args))
    pipeline.warm()
    assert len(calls) == 1 and calls[0][0].shape == (1, embedder.dimension)  # one zero question, one sentence
    assert pipeline.ask("What was the maximum infusion rate?").answer  # and questions still score from the codes
    assert len(calls) > 1
