"""The ONNX backend: vectors close to torch's, the export cached and rebuilt when damaged, and an
index refusing to be searched with another backend than the one that built it."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from crps_qa.errors import IndexMismatchError
from crps_qa.index import onnx_export
from crps_qa.index.build import build, is_stale
from crps_qa.index.manifest import check_compatible, current_build
from crps_qa.index.store import load_index
from crps_qa.ingest.chunk import chunk_document
from crps_qa.ingest.pages import normalize_document
from crps_qa.ingest.read import ingest_corpus
from crps_qa.pipeline import Pipeline
from crps_qa.settings import Settings
from fakes import FakeEmbedder


def corpus_passages(corpus) -> list[str]:
    return [p.text for raw in ingest_corpus(corpus).documents
            for p in chunk_document(normalize_document(raw), max_words=120, overlap_sentences=1)]


@pytest.mark.model
def test_int8_vectors_are_within_0_98_cosine_of_torch_for_every_passage(real_embedder, torch_embedder):
    from conftest import CORPUS

    passages = corpus_passages(CORPUS)
    cosines = (real_embedder.encode(passages) * torch_embedder.encode(passages)).sum(axis=1)
    assert len(passages) > 150
    assert cosines.min() >= 0.98 and cosines.mean() >= 0.99  # measured 0.986 / 0.994


@pytest.mark.model
def test_one_pass_gives_torchs_word_pieces_and_token_vectors(real_embedder, torch_embedder):
    questions = ["How was the ketamine dose raised?", "Did the skin temperature of the foot rise?"]
    vectors, tokens = real_embedder.encode_with_tokens(questions)
    torch_vectors, torch_tokens = torch_embedder.encode_with_tokens(questions)
    assert np.allclose(vectors, real_embedder.encode(questions), atol=1e-5)
    assert ((vectors * torch_vectors).sum(axis=1) >= 0.98).all()
    for ours, theirs in zip(tokens, torch_tokens, strict=True):
        assert ours.tokens == theirs.tokens and ours.tokens[:2] in (("how", "was"), ("did", "the"))
        assert ((ours.vectors * theirs.vectors).sum(axis=1) >= 0.95).all()
    assert real_embedder.word_pieces(questions) == torch_embedder.word_pieces(questions)


@pytest.mark.model
def test_an_int8_vector_depends_on_its_text_only_not_on_the_texts_beside_it_or_the_batch_size(real_embedder):
    from conftest import CORPUS

    assert real_embedder.backend == "onnx-int8"
    passages = corpus_passages(CORPUS)[:40]
    alone = np.stack([real_embedder.encode([p])[0] for p in passages[:5]])
    for batch_size in (1, 7, 32):
        together, tokens = real_embedder.encode_with_tokens(passages[::-1], batch_size=batch_size)
        assert np.array_equal(together[::-1][:5], alone)
        assert np.array_equal(tokens[-1].vectors, real_embedder.encode_tokens(passages[:1])[0].vectors)


@pytest.mark.model
def test_text_longer_than_the_window_is_cut_like_torch(real_embedder, torch_embedder):
    text = "ketamine infusion " * 300
    assert real_embedder.encode_tokens([text])[0].tokens == torch_embedder.encode_tokens([text])[0].tokens
    assert len(real_embedder.encode_tokens([text])[0].tokens) == 254  # 256 less [CLS] and [SEP]


# ---------------------------------------------------------------- the export cache (no model needed)


@pytest.fixture
def model_dir(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"weights")
    (folder / "config.json").write_text("{}")
    return folder


@pytest.fixture
def exports(monkeypatch):
    """Replace the (slow) export by one writing a tiny valid graph with the two outputs; count calls."""
    import onnx
    from onnx import TensorProto, helper

    calls = []

    def tiny_export(model_dir, work, *, quantize):
        calls.append(quantize)
        node = helper.make_node("Identity", ["input_ids"], ["tokens"])
        node2 = helper.make_node("Identity", ["attention_mask"], ["pooled"])
        graph = helper.make_graph(
            [node, node2], "tiny",
            [helper.make_tensor_value_info(n, TensorProto.INT64, [1]) for n in ("input_ids", "attention_mask")],
            [helper.make_tensor_value_info(n, TensorProto.INT64, [1]) for n in ("tokens", "pooled")])
        onnx.save(helper.make_model(graph), work / "made.onnx")
        return work / "made.onnx"

    monkeypatch.setattr(onnx_export, "export", tiny_export)
    return calls


def test_the_export_is_made_once_and_reused(model_dir, tmp_path, exports, caplog):
    with caplog.at_level(logging.WARNING):
        first = onnx_export.exported_model(model_dir, tmp_path / "cache", "onnx-int8")
    assert "Exporting the embedding model to ONNX" in caplog.text
    assert onnx_export.exported_model(model_dir, tmp_path / "cache", "onnx-int8") == first
    assert exports == [True]
    assert first.name.startswith("model-") and first.name.endswith("-onnx-int8.onnx")
    assert onnx_export.exported_model(model_dir, tmp_path / "cache", "onnx").name.endswith("-onnx.onnx")
    assert exports == [True, False]


def test_a_changed_model_is_exported_again(model_dir, tmp_path, exports):
    first = onnx_export.exported_model(model_dir, tmp_path / "cache", "onnx-int8")
    (model_dir / "model.safetensors").write_bytes(b"other weights")
    assert onnx_export.exported_model(model_dir, tmp_path / "cache", "onnx-int8") != first
    assert len(exports) == 2


@pytest.mark.parametrize("damage", [b"", b"not a protobuf \x00\xff" * 10], ids=["empty", "garbage"])
def test_a_damaged_export_is_rebuilt_with_a_message_not_a_crash(model_dir, tmp_path, exports, caplog, damage):
    path = onnx_export.exported_model(model_dir, tmp_path / "cache", "onnx-int8")
    path.write_bytes(damage)
    with caplog.at_level(logging.WARNING):
        again = onnx_export.exported_model(model_dir, tmp_path / "cache", "onnx-int8")
    assert again == path and len(exports) == 2
    assert "is unreadable" in caplog.text and "exporting it again" in caplog.text
    assert onnx_export._unreadable(again) is None


def test_a_deleted_cache_folder_is_exported_again(model_dir, tmp_path, exports):
    path = onnx_export.exported_model(model_dir, tmp_path / "cache", "onnx-int8")
    path.unlink()
    path.parent.rmdir()
    assert onnx_export.exported_model(model_dir, tmp_path / "cache", "onnx-int8").exists()
    assert len(exports) == 2


# ---------------------------------------------------------------- the backend in the manifest


def test_the_manifest_records_the_backend_and_a_mismatch_is_refused_with_the_fix(tiny_settings):
    build(tiny_settings, FakeEmbedder())
    assert load_index(tiny_settings.index_dir).manifest["embed_backend"] == "onnx-int8"
    with pytest.raises(IndexMismatchError) as caught:
        load_index(tiny_settings.index_dir, backend="torch")
    message = str(caught.value)
    assert "built with embedding backend 'onnx-int8'" in message and "'torch'" in message
    assert f"crps-qa index --rebuild --index {tiny_settings.index_dir}" in message
    assert "CRPS_QA_EMBED_BACKEND=onnx-int8" in message
    torch_settings = Settings(**{**tiny_settings.model_dump(), "embed_backend": "torch"})
    with pytest.raises(IndexMismatchError):
        Pipeline.open(torch_settings, embedder=FakeEmbedder())
    assert is_stale(torch_settings) == "embedding backend changed (onnx-int8 → torch)"


def test_an_index_from_before_backends_counts_as_torch(tiny_settings):
    build(tiny_settings, FakeEmbedder())
    path = current_build(tiny_settings.index_dir) / "manifest.json"
    manifest = json.loads(path.read_text())
    del manifest["embed_backend"]
    path.write_text(json.dumps(manifest))
    check_compatible(manifest, tiny_settings.index_dir, model="fake", dimension=None, backend="torch")
    with pytest.raises(IndexMismatchError, match="built with embedding backend 'torch'"):
        load_index(tiny_settings.index_dir, backend="onnx-int8")


def test_an_embedder_of_another_backend_cannot_build(tiny_settings):
    embedder = FakeEmbedder()
    embedder.backend = "torch"
    with pytest.raises(Exception, match="does not match the embed_backend setting 'onnx-int8'"):
        build(tiny_settings, embedder)
