"""Shared fixtures: a tiny corpus, settings pointing into tmp_path, and the fake embedder."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from crps_qa.settings import Settings  # noqa: E402
from fakes import FakeEmbedder  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "corpus"

TINY_DOCS = {
    "dosing.txt": (
        "Ketamine dosing in CRPS\n\nMethods\n\n"
        "Ketamine was started at 10 mg/h. The rate was raised by 5 mg/h every day. "
        "The maximum infusion rate was 40 mg/h.\n\nResults\n\n"
        "Pain scores fell from 8 to 3. Nausea was the most common side effect."
    ),
    "skin.txt": (
        "Skin temperature after ketamine\n\nCase Report\n\n"
        "A woman with complex regional pain syndrome (CRPS) had a cold left foot. "
        "After the infusion the skin temperature of the foot rose by 2 degrees."
    ),
}


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No CRPS_QA_* variable from the developer's shell leaks into a test."""
    for key in list(os.environ):
        if key.startswith("CRPS_QA_"):
            monkeypatch.delenv(key)


@pytest.fixture
def tiny_corpus(tmp_path: Path) -> Path:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, text in TINY_DOCS.items():
        (corpus / name).write_text(text, encoding="utf-8")
    return corpus


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture
def tiny_settings(tmp_path: Path, tiny_corpus: Path) -> Settings:
    return Settings(corpus_dir=tiny_corpus, index_dir=tmp_path / "index", model="fake", chunk_max_words=20)


@pytest.fixture(scope="session")
def onnx_cache(tmp_path_factory) -> Path:
    """The ONNX export folder of this test session: the model is exported once per session."""
    return tmp_path_factory.mktemp("onnx")


@pytest.fixture(scope="session")
def real_embedder(onnx_cache):
    """The real all-MiniLM-L6-v2 on the default backend (int8 ONNX), loaded once per test session."""
    from crps_qa.index.embed import load_embedder

    return load_embedder("all-MiniLM-L6-v2", backend="onnx-int8", cache_dir=onnx_cache)


@pytest.fixture(scope="session")
def torch_embedder():
    """The real all-MiniLM-L6-v2 run by sentence-transformers (embed_backend=torch)."""
    from crps_qa.index.embed import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder("all-MiniLM-L6-v2")


@pytest.fixture(scope="session")
def real_settings(tmp_path_factory, onnx_cache) -> Settings:
    """Default settings over the real corpus, indexing into a fresh folder."""
    return Settings(corpus_dir=CORPUS, index_dir=tmp_path_factory.mktemp("real") / "index", embed_cache_dir=onnx_cache)


@pytest.fixture(scope="session")
def real_pipeline(real_settings, real_embedder):
    """The real corpus indexed with the real model (built once per session)."""
    from crps_qa.index.build import build
    from crps_qa.pipeline import Pipeline

    build(real_settings, real_embedder)
    return Pipeline.open(real_settings, embedder=real_embedder)
