"""The BEIR runner on a tiny BEIR folder with the fake embedder: sentences, caches, metrics."""

from __future__ import annotations

import json

import numpy as np
import pytest

from crps_qa.errors import ConfigError
from crps_qa.evaluate.beir import BEIR_METRICS, beir_sentences, build_beir_index, load_beir, run_beir, unit_text
from crps_qa.settings import Settings
from fakes import FakeEmbedder

DOCS = [
    {"_id": "d1", "title": "Ketamine infusion in CRPS.",
     "text": "Patients received ketamine for five days. The maximum infusion rate was 40 mg/h."},
    {"_id": "d2", "title": "Skin temperature",
     "text": "The left foot was cold. After treatment the skin temperature rose by 2 degrees."},
    {"_id": "d3", "title": "", "text": "Mirror therapy reduced pain. Motor imagery helped too. No harm was seen."},
]
QUERIES = {"q1": "maximum ketamine infusion rate", "q2": "skin temperature of the foot rose"}
QRELS = [("q1", "d1"), ("q2", "d2")]


@pytest.fixture
def beir_dir(tmp_path):
    folder = tmp_path / "tiny"
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in DOCS), encoding="utf-8")
    queries = [{"_id": q, "text": t} for q, t in QUERIES.items()] + [{"_id": "q9", "text": "not judged"}]
    (folder / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries), encoding="utf-8")
    lines = ["query-id\tcorpus-id\tscore"] + [f"{q}\t{d}\t1" for q, d in QRELS]
    (folder / "qrels" / "test.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def test_unit_text_keeps_the_baseline_text_and_finds_the_body():
    # The baselines' own quirk: strip(". ") also drops the text's final period.
    assert unit_text(DOCS[0]) == ("Ketamine infusion in CRPS.. Patients received ketamine for five days. "
                                  "The maximum infusion rate was 40 mg/h", 28)
    assert unit_text(DOCS[1])[0][unit_text(DOCS[1])[1]:].startswith("The left foot")
    assert unit_text(DOCS[2]) == (DOCS[2]["text"].rstrip("."), 0)


def test_sentences_are_the_title_then_the_body_sentences():
    units = [unit_text(d) for d in DOCS]
    rows, starts, ends = beir_sentences(units)
    texts = [units[r][0][a:b] for r, a, b in zip(rows, starts, ends, strict=True)]
    assert rows.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    # The title is its own sentence whatever the body starts with.
    assert texts[:4] == ["Ketamine infusion in CRPS..", "Patients received ketamine for five days.",
                         "The maximum infusion rate was 40 mg/h", "Skin temperature."]
    assert texts[6:] == ["Mirror therapy reduced pain.", "Motor imagery helped too.", "No harm was seen"]


def test_runner_builds_sentences_and_scores_every_mode(beir_dir, tmp_path):
    embedder = FakeEmbedder()
    cache = tmp_path / "cache" / "tiny.npy"
    result = run_beir(beir_dir, Settings(), embedder, modes=["dense", "bm25", "hybrid"], cache=cache)
    assert (result.documents, result.queries, result.sentences) == (3, 2, 9)
    assert set(result.metrics) == {"dense", "bm25", "hybrid"}
    for mode, metrics in result.metrics.items():
        assert set(metrics) == set(BEIR_METRICS)
        assert all(0.0 <= v <= 1.0 for v in metrics.values())
        assert metrics["ndcg@10"] == pytest.approx(1.0), mode  # each query names its document
        assert result.query_ms_median[mode] >= 0
    assert np.load(cache).shape == (3, embedder.dimension)
    assert np.load(tmp_path / "cache" / "tiny-sentences.npy").shape == (9, embedder.dimension)

    again = FakeEmbedder()
    second = run_beir(beir_dir, Settings(), again, modes=["hybrid"], cache=cache)
    assert again.calls == 2  # only the queries: documents and sentences came from the caches
    assert second.metrics["hybrid"] == result.metrics["hybrid"]


def test_hybrid_index_carries_sentences_that_rescoring_uses(beir_dir):
    corpus, _, _ = load_beir(beir_dir)
    data, _, _ = build_beir_index(corpus, FakeEmbedder(), batch_size=8, cache=None)
    assert len(data.sentences) == 9 and data.manifest["counts"] == {"passages": 3, "sentences": 9}
    for row, start, end in zip(data.sentences.rows, data.sentences.starts, data.sentences.ends, strict=True):
        assert data.passages[row].text[start:end].strip() == data.passages[row].text[start:end] != ""
    plain, _, _ = build_beir_index(corpus, FakeEmbedder(), batch_size=8, cache=None, sentences=False)
    assert plain.sentences is None


def test_a_sentence_cache_of_another_corpus_is_refused(beir_dir, tmp_path):
    cache = tmp_path / "c.npy"
    run_beir(beir_dir, Settings(), FakeEmbedder(), modes=["bm25"], cache=cache)
    np.save(tmp_path / "c-sentences.npy", np.zeros((4, 64), dtype=np.float32))
    with pytest.raises(ConfigError, match="does not fit"):
        run_beir(beir_dir, Settings(), FakeEmbedder(), modes=["bm25"], cache=cache)


def test_eval_command_prints_a_table_with_the_sentence_count(beir_dir, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from crps_qa.cli import app
    from crps_qa.index import embed

    monkeypatch.setenv("CRPS_QA_MODEL", "fake")
    monkeypatch.setattr(embed, "load_embedder", lambda name, **_: FakeEmbedder(name))
    args = ["eval", "--beir", str(beir_dir), "--beir-cache", str(tmp_path / "v.npy"), "--modes", "bm25,hybrid"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "tiny: 3 documents (9 sentences), 2 test queries" in result.output
    assert "| hybrid | 1.000 | 1.000 | 1.000 |" in result.output
    record = json.loads(CliRunner().invoke(app, [*args, "--json"]).output)
    assert record["sentences"] == 9 and set(record["metrics"]) == {"bm25", "hybrid"}
