"""Streaming, resumable indexing: documents are embedded and committed in batches; a build killed
mid-way resumes from its committed batches, embeds nothing they hold again, and publishes the same
index an uninterrupted build does."""

from __future__ import annotations

import numpy as np
import pytest

from crps_qa.index.build import build
from crps_qa.index.staging import STAGING
from crps_qa.index.store import load_index
from fakes import SmallTokenEmbedder

EXTRA = {
    "nausea.txt": "Nausea after ketamine\n\nResults\n\nNausea was treated with ondansetron. It resolved in a day.",
    "sleep.txt": "Sleep in CRPS\n\nResults\n\nSleep improved after the infusion. Patients slept 6 hours.",
}


class CrashError(Exception):
    pass


def crash_at(batch: int):
    def on_batch(number: int) -> None:
        if number == batch:
            raise CrashError(f"killed after batch {number}")

    return on_batch


@pytest.fixture
def settings(tiny_settings):
    for name, text in EXTRA.items():
        (tiny_settings.corpus_dir / name).write_text(text, encoding="utf-8")
    return tiny_settings.model_copy(update={"index_batch_documents": 1})  # 4 documents: 4 batches


def fingerprint(index_dir):
    data = load_index(index_dir)
    tokens = data.tokens
    return (
        [p.to_dict() for p in data.passages], np.asarray(data.vectors).tolist(),
        [np.asarray(a).tolist() for a in (data.sentences.rows, data.sentences.starts, data.sentences.ends,
                                          data.sentences.vectors)],
        (tokens.doc_ids, tokens.starts.tolist(), tokens.offsets.tolist(), np.asarray(tokens.vectors).tolist()),
        data.expansions, data.manifest["vector_keys"], data.manifest["token_keys"],
    )


def passages_of(index_dir, doc_ids) -> int:
    return sum(1 for p in load_index(index_dir).passages if p.doc_id in doc_ids)


def test_a_crashed_build_resumes_without_re_embedding_and_equals_an_uninterrupted_one(settings):
    whole = settings.model_copy(update={"index_dir": settings.index_dir.parent / "whole"})
    whole_embedder = SmallTokenEmbedder()
    uninterrupted = build(whole, whole_embedder)

    first = SmallTokenEmbedder()
    with pytest.raises(CrashError):
        build(settings, first, on_batch=crash_at(1))  # dosing and nausea (batches 0, 1) committed, then killed
    assert not (settings.index_dir / "current").exists()  # nothing published
    second = SmallTokenEmbedder()
    report = build(settings, second)

    committed = passages_of(whole.index_dir, {"dosing", "nausea"})
    assert report.passages == uninterrupted.passages
    assert report.embedded == uninterrupted.passages - committed  # only skin and sleep embedded now
    assert first.calls + second.calls == whole_embedder.calls  # no text encoded twice
    assert first.token_calls + second.token_calls == whole_embedder.token_calls
    assert fingerprint(settings.index_dir) == fingerprint(whole.index_dir)
    assert not (settings.index_dir / "builds" / STAGING).exists()  # removed once published


def test_a_crash_while_storing_sentence_vectors_keeps_every_committed_vector(settings):
    whole = settings.model_copy(update={"index_dir": settings.index_dir.parent / "whole"})
    whole_embedder = SmallTokenEmbedder()
    build(whole, whole_embedder)
    first = SmallTokenEmbedder()
    with pytest.raises(CrashError):
        build(settings, first, on_batch=crash_at(4 + 1))  # after batch 1's sentences (4 batches of passages first)
    second = SmallTokenEmbedder()
    report = build(settings, second)

    data = load_index(settings.index_dir)
    resumed = {"skin", "sleep"}  # batches 2 and 3: only their sentences are encoded now
    sentences = {(data.passages[int(r)].doc_id, int(a), int(b))
                 for r, a, b in zip(data.sentences.rows, data.sentences.starts, data.sentences.ends, strict=True)}
    assert report.embedded == 0  # every passage vector was committed before the crash
    assert report.sentences_embedded == sum(1 for doc_id, _, _ in sentences if doc_id in resumed)
    assert report.tokens_encoded == sum(1 for doc_id in data.tokens.doc_ids if doc_id in resumed)
    assert first.calls + second.calls == whole_embedder.calls  # no text encoded twice
    assert first.token_calls + second.token_calls == whole_embedder.token_calls
    assert fingerprint(settings.index_dir) == fingerprint(whole.index_dir)


def test_a_stage_made_with_other_settings_is_discarded(settings):
    with pytest.raises(CrashError):
        build(settings, SmallTokenEmbedder(), on_batch=crash_at(1))
    rechunked = settings.model_copy(update={"chunk_max_words": 40})
    embedder = SmallTokenEmbedder()
    report = build(rechunked, embedder)
    assert report.embedded == report.passages  # nothing from the stale stage reused
