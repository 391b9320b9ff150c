"""The index: built from the corpus, persisted atomically, refreshed incrementally, refused when
built differently."""

import json
import shutil

import numpy as np
import pytest

from crps_qa.errors import IndexCorruptError, IndexMismatchError, IndexMissingError, IngestError
from crps_qa.index import manifest as manifest_module
from crps_qa.index import store as index_module
from crps_qa.index.build import build, is_stale
from crps_qa.index.manifest import read_manifest
from crps_qa.index.store import load_index
from crps_qa.settings import Settings
from fakes import SmallTokenEmbedder


def test_build_then_load_round_trips_every_passage(tiny_settings, fake_embedder):
    report = build(tiny_settings, fake_embedder)
    data = load_index(tiny_settings.index_dir, model="fake", dimension=64)
    assert report.documents == 2 and report.passages == len(data.passages) > 2
    assert data.manifest["counts"] == {"documents": 2, "passages": report.passages, "sentences": len(data.sentences)}
    for passage in data.passages:
        assert data.texts[passage.doc_id].text[passage.char_start : passage.char_end] == passage.text
    assert data.vectors.shape == (report.passages, 64)


def test_every_sentence_of_every_passage_is_stored_with_its_vector(tiny_settings, fake_embedder):
    build(tiny_settings, fake_embedder)
    data = load_index(tiny_settings.index_dir)
    table = data.sentences
    assert table.vectors.shape == (len(table), 64) and len(table) > len(data.passages)
    for row, start, end, vector in zip(table.rows, table.starts, table.ends, table.vectors, strict=True):
        passage = data.passages[row]
        assert passage.char_start <= start < end <= passage.char_end
        sentence = data.texts[passage.doc_id].text[start:end]
        assert vector == pytest.approx(fake_embedder.encode([sentence])[0])


def test_a_sentence_is_encoded_once_for_its_vector_and_token_vectors_unless_the_matcher_reads_it_expanded(
    tmp_path,
):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "crps.txt").write_text("Ketamine in CRPS\n\nComplex regional pain syndrome (CRPS) is painful. "
                                     "Ketamine helped most patients. CRPS pain returned later.", encoding="utf-8")
    settings = Settings(corpus_dir=corpus, index_dir=tmp_path / "index", model="fake")
    embedder = SmallTokenEmbedder()
    report = build(settings, embedder)

    data = load_index(settings.index_dir)
    texts = [data.texts[data.passages[r].doc_id].text[a:b]
             for r, a, b in zip(data.sentences.rows, data.sentences.starts, data.sentences.ends, strict=True)]
    assert texts == ["Ketamine in CRPS", "Complex regional pain syndrome (CRPS) is painful.",
                     "Ketamine helped most patients.", "CRPS pain returned later."]
    assert [tuple(pair) for pair in data.expansions] == [("CRPS", "complex regional pain syndrome")]
    # four sentences, each encoded once with its token vectors (a pass that gives its vector too);
    # the matcher reads two with CRPS expanded ("Ketamine in CRPS (complex regional pain
    # syndrome)"; the second sentence spells it out already), so those two are encoded again,
    # alone, for their own vectors
    assert (report.embedded, report.sentences_embedded, report.tokens_encoded) == (1, 4, 4)
    assert embedder.calls == 1 + 4 + 2
    np.testing.assert_array_equal(data.sentences.vectors, embedder.encode(texts))


def test_manifest_records_how_the_index_was_built(tiny_settings, fake_embedder):
    build(tiny_settings, fake_embedder)
    manifest = read_manifest(tiny_settings.index_dir)
    assert manifest["format_version"] == manifest_module.FORMAT_VERSION
    assert manifest["model"] == "fake" and manifest["dimension"] == 64
    assert manifest["chunking"]["max_words"] == 20
    assert set(manifest["documents"]) == {"dosing", "skin"}
    assert len(manifest["documents"]["dosing"]["sha256"]) == 64
    assert manifest["built_at"]


def test_unchanged_corpus_reuses_every_vector(tiny_settings, fake_embedder):
    first = build(tiny_settings, fake_embedder)
    second = build(tiny_settings, fake_embedder)
    assert (second.embedded, second.reused, second.sentences_embedded) == (0, first.passages, 0)
    assert is_stale(tiny_settings) is None


def test_changed_document_is_re_embedded_and_removed_one_dropped(tiny_settings, fake_embedder):
    build(tiny_settings, fake_embedder)
    (tiny_settings.corpus_dir / "dosing.txt").write_text("Methods\n\nA new protocol used 7 mg/h.", encoding="utf-8")
    (tiny_settings.corpus_dir / "skin.txt").unlink()
    assert "corpus changed" in is_stale(tiny_settings)
    report = build(tiny_settings, fake_embedder)
    data = load_index(tiny_settings.index_dir)
    assert set(data.documents) == {"dosing"}
    assert report.embedded == len(data.passages)  # all passages of the edited document are new
    assert "7 mg/h" in data.passages[-1].text


def test_rebuild_ignores_the_cache(tiny_settings, fake_embedder):
    first = build(tiny_settings, fake_embedder)
    assert build(tiny_settings, fake_embedder, rebuild=True).embedded == first.passages


def test_crash_mid_build_leaves_previous_index_loadable(tiny_settings, fake_embedder, monkeypatch):
    build(tiny_settings, fake_embedder)
    before = read_manifest(tiny_settings.index_dir)["build_id"]
    (tiny_settings.corpus_dir / "new.txt").write_text("Results\n\nSomething new.", encoding="utf-8")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(index_module.faiss, "write_index", interrupted)
    with pytest.raises(KeyboardInterrupt):
        build(tiny_settings, fake_embedder)
    data = load_index(tiny_settings.index_dir, model="fake")
    assert data.build_id == before and "new" not in data.documents
    leftovers = [p.name for p in (tiny_settings.index_dir / "builds").iterdir() if p.name.startswith(".")]
    assert leftovers == [".staging"]  # no half-written build; the committed batches, for a rerun to resume


def test_old_builds_are_pruned(tiny_settings, fake_embedder):
    for _ in range(4):
        build(tiny_settings, fake_embedder, rebuild=True)
    assert len(list((tiny_settings.index_dir / "builds").iterdir())) == index_module.KEEP_BUILDS


def test_missing_index_names_the_command_that_builds_it(tmp_path):
    with pytest.raises(IndexMissingError, match="crps-qa index"):
        load_index(tmp_path / "nothing-here")


@pytest.mark.parametrize(
    ("kwargs", "edit", "message"),
    [
        ({"model": "all-MiniLM-L6-v2"}, None, "built with model 'fake'"),
        ({"dimension": 384}, None, "64-dimensional"),
        ({}, {"format_version": 999}, "format version 999"),
    ],
)
def test_incompatible_index_is_refused_with_rebuild_hint(tiny_settings, fake_embedder, kwargs, edit, message):
    build(tiny_settings, fake_embedder)
    if edit:
        path = manifest_module.current_build(tiny_settings.index_dir) / "manifest.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), **edit}))
    with pytest.raises(IndexMismatchError, match=message) as err:
        load_index(tiny_settings.index_dir, **kwargs)
    assert "crps-qa index --rebuild" in str(err.value)


@pytest.mark.parametrize("victim", ["passages.jsonl", "dense.faiss", "documents.json", "bm25"])
def test_damaged_index_is_reported_as_corrupt(tiny_settings, fake_embedder, victim):
    build(tiny_settings, fake_embedder)
    path = manifest_module.current_build(tiny_settings.index_dir) / victim
    shutil.rmtree(path) if path.is_dir() else path.write_text("garbage")
    with pytest.raises(IndexCorruptError, match="--rebuild"):
        load_index(tiny_settings.index_dir)


def test_unreadable_file_is_skipped_and_the_rest_indexes(tiny_settings, fake_embedder):
    (tiny_settings.corpus_dir / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    report = build(tiny_settings, fake_embedder)
    assert report.documents == 2
    assert [s.path.endswith("broken.pdf") for s in report.skipped] == [True]
    assert read_manifest(tiny_settings.index_dir)["skipped"][0]["reason"]


def test_empty_corpus_is_an_error_that_says_what_to_add(tmp_path, fake_embedder):
    (tmp_path / "corpus").mkdir()
    settings = Settings(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index", model="fake")
    with pytest.raises(IngestError, match=r"\.pdf"):
        build(settings, fake_embedder)


def test_catalog_metadata_is_attached(tiny_settings, fake_embedder):
    catalog = {"documents": [{"doc_id": "skin", "title": "Skin temperature case", "year": 2021,
                              "study_type": "case report"}]}
    (tiny_settings.corpus_dir / "catalog.json").write_text(json.dumps(catalog))
    build(tiny_settings, fake_embedder)
    docs = load_index(tiny_settings.index_dir).documents
    skin = docs["skin"]
    assert (skin.title, skin.year, skin.study_type) == ("Skin temperature case", 2021, "case report")
    assert docs["dosing"].title == "Ketamine dosing in CRPS"  # no entry: first line of the text
