"""Evidence filters and answer receipts through every front door: the filter itself, the CLI, the
HTTP service, and `crps-qa replay` (identical after a restart; what differs after a paper is
edited or a setting changes). Three made-up papers, one per kind of evidence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from crps_qa.api import create_app
from crps_qa.cli import app
from crps_qa.errors import NotFoundError, QueryError
from crps_qa.index import embed
from crps_qa.index.build import build
from crps_qa.pipeline import Pipeline
from crps_qa.search.filters import EvidenceFilter
from crps_qa.settings import Settings
from fakes import FakeEmbedder

PAPERS = {
    "case.txt": (
        "Ketamine for a cold foot: a case report\n\n"
        "Case Report: We describe a clinical case of a 30-year-old woman with CRPS type I of the left foot. "
        "She received intravenous ketamine 20 mg/h for 5 days.\n\n"
        "Results\n\nHer pain fell from 8 to 2 and the foot warmed after the ketamine infusion."
    ),
    "cohort.txt": (
        "Low-dose S-ketamine in CRPS\n\n"
        "Methods: In this retrospective cohort study, patients treated between 2010 and 2015 were included. "
        "Forty patients were included. S-ketamine was given intravenously at 5–14 mg/h for 7 days.\n\n"
        "Results\n\nPain fell from 8 to 6 at discharge. Nausea was the most common side effect of the infusion."
    ),
    "review.txt": (
        "Ketamine for CRPS: what the studies say\n\n"
        "This review summarises ketamine infusions for CRPS. Several studies support its use.\n\n"
        "Pain relief after a ketamine infusion lasted weeks in most studies. Copyright 2024."
    ),
}


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    for name, text in PAPERS.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture
def settings(tmp_path: Path, corpus: Path) -> Settings:
    return Settings(corpus_dir=corpus, index_dir=tmp_path / "index", model="fake", chunk_max_words=30)


@pytest.fixture
def pipeline(settings: Settings) -> Pipeline:
    build(settings, FakeEmbedder("fake"))
    return Pipeline.open(settings, embedder=FakeEmbedder("fake"))


# ---------------------------------------------------------------------------- the filter


def test_an_index_built_before_facets_is_stale(settings, pipeline):
    from crps_qa.index.build import is_stale
    from crps_qa.index.store import current_build

    assert is_stale(settings) is None
    manifest_file = current_build(settings.index_dir) / "manifest.json"
    manifest = json.loads(manifest_file.read_text())
    del manifest["facets_version"]
    manifest_file.write_text(json.dumps(manifest))
    assert is_stale(settings) == "the evidence facet rules changed"


def test_the_three_papers_have_the_facets_their_text_states(pipeline):
    facets = {d: info.facets for d, info in pipeline.data.documents.items()}
    assert {d: f.design.value for d, f in facets.items()} == {
        "case": "case report", "cohort": "retrospective cohort", "review": "narrative review"}
    assert (facets["case"].n.value, facets["cohort"].n.value, facets["review"].n) == (1, 40, None)
    assert facets["cohort"].year.value == {"from": 2010, "to": 2015}
    assert facets["review"].year.value == {"from": 2024, "to": 2024}
    assert facets["cohort"].intervention.value["drug"] == "S-ketamine"


@pytest.mark.parametrize(("wanted", "kept"), [
    (EvidenceFilter.of(design="case report"), ("case",)),
    (EvidenceFilter.of(design=["case report", "narrative review"]), ("case", "review")),
    (EvidenceFilter.of(min_n=2), ("cohort",)),  # the review states no n: left out
    (EvidenceFilter.of(min_n=1), ("case", "cohort")),
    (EvidenceFilter.of(year_from=2015), ("cohort", "review")),  # 2010–2015 reaches 2015
    (EvidenceFilter.of(year_from=2016, year_to=2030), ("review",)),
    (EvidenceFilter.of(year_to=2012), ("cohort",)),
    (EvidenceFilter.of(drug="ketamine"), ("case", "cohort", "review")),  # ketamine also finds S-ketamine
    (EvidenceFilter.of(drug="esketamine"), ("cohort",)),
    (EvidenceFilter.of(design="RCT", drug=""), None),  # no paper is a trial
    (EvidenceFilter(), ()),  # no filter: doc ids unchanged (all documents)
])
def test_a_filter_resolves_to_the_papers_that_pass(pipeline, wanted, kept):
    if kept is None:
        with pytest.raises(NotFoundError, match="No indexed paper matches design=.'randomized controlled trial'"):
            wanted.resolve(pipeline.data.documents)
        return
    assert wanted.resolve(pipeline.data.documents) == kept


def test_a_filter_narrows_the_documents_already_chosen(pipeline):
    assert EvidenceFilter.of(min_n=1).resolve(pipeline.data.documents, ["cohort", "review"]) == ("cohort",)


@pytest.mark.parametrize(("options", "message"), [
    ({"design": "cohort"}, "Unknown design 'cohort'; use one of: case report"),
    ({"min_n": 0}, "min_n must be 1 or more"),
])
def test_a_bad_filter_says_what_to_use(options, message):
    with pytest.raises(QueryError, match=message):
        EvidenceFilter.of(**options)


def test_years_given_backwards_are_named_in_the_error(pipeline):
    with pytest.raises(NotFoundError, match="swap them"):
        EvidenceFilter.of(year_from=2020, year_to=2010).resolve(pipeline.data.documents)


# ---------------------------------------------------------------------------- CLI


@pytest.fixture
def cli(settings, monkeypatch):
    monkeypatch.setenv("CRPS_QA_MODEL", "fake")
    monkeypatch.setattr(embed, "load_embedder", lambda name, **_: FakeEmbedder(name))
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, [*args, "--index", str(settings.index_dir)])

    assert runner.invoke(app, ["index", "--corpus", str(settings.corpus_dir), "--index",
                               str(settings.index_dir)]).exit_code == 0
    return invoke


def test_cli_documents_json_prints_the_facets_with_spans(cli, corpus):
    records = {r["doc_id"]: r for r in map(json.loads, cli("documents", "--json").stdout.splitlines())}
    design = records["case"]["facets"]["design"]
    assert design["value"] == "case report" and design["source"] == "text"
    assert records["review"]["facets"]["n"] is None
    human = cli("documents").stdout
    assert "Retrospective cohort · n = 40 · IV S-ketamine 5–14 mg/h · 2010–2015" in human


def test_cli_search_filtered_to_case_reports_finds_only_the_case_report(cli):
    result = cli("search", "ketamine infusion pain", "--k", "5", "--json", "--design", "case report")
    assert result.exit_code == 0, result.output
    assert {h["doc_id"] for h in json.loads(result.stdout)["hits"]} == {"case"}


def test_cli_ask_filtered_by_size_and_drug(cli):
    result = cli("ask", "what was the most common side effect?", "--json", "--min-n", "10", "--drug", "S-ketamine")
    body = json.loads(result.stdout)
    assert {p["doc_id"] for p in body["passages"]} == {"cohort"}
    assert body["receipt"]["request"]["filters"]["min_n"] == 10


def test_cli_sources_carry_each_papers_evidence_badge(cli):
    answer = cli("ask", "what was the most common side effect?", "--drug", "S-ketamine").stdout
    assert "\n    Retrospective cohort · n = 40 · IV S-ketamine 5–14 mg/h · 2010–2015\n" in answer
    hits = cli("search", "ketamine pain", "--k", "1", "--design", "case report").stdout
    assert "\n    Case report · n = 1 · IV ketamine 20 mg/h\n" in hits


def test_cli_filter_that_no_paper_passes_is_an_error_not_everything(cli):
    result = cli("search", "ketamine", "--design", "meta-analysis")
    assert result.exit_code == 4 and "No indexed paper matches design=['meta-analysis']" in result.stderr


# ---------------------------------------------------------------------------- HTTP


@pytest.fixture
def client(pipeline, settings):
    service_app = create_app(settings, pipeline_factory=lambda s: Pipeline.open(s, embedder=FakeEmbedder("fake")),
                             poll_seconds=None)
    with TestClient(service_app) as client:
        yield client


def test_http_documents_return_facets_with_spans(client):
    documents = {d["doc_id"]: d for d in client.get("/documents").json()["documents"]}
    n = documents["cohort"]["facets"]["n"]
    text = client.get("/documents/cohort", params={"include_text": True}).json()["text"]
    assert (n["value"], text[n["char_start"] : n["char_end"]]) == (40, "Forty patients were included")
    assert client.get("/documents/case").json()["facets"]["design"]["value"] == "case report"


def test_http_search_and_ask_take_the_filters(client):
    hits = client.get("/search", params={"q": "ketamine pain", "design": "case report"}).json()["hits"]
    assert hits and {h["doc_id"] for h in hits} == {"case"}
    body = client.post("/search", json={"query": "ketamine pain", "year_from": 2016}).json()
    assert {h["doc_id"] for h in body["hits"]} == {"review"}
    answer = client.post("/ask", json={"question": "side effect of the infusion", "min_n": 10}).json()
    assert {p["doc_id"] for p in answer["passages"]} == {"cohort"}


def test_http_filters_errors(client):
    none = client.get("/search", params={"q": "ketamine", "design": "meta-analysis"})
    assert none.status_code == 404 and "Loosen the filters" in none.json()["detail"]
    assert client.post("/ask", json={"question": "dose", "min_n": 0}).status_code == 422
    assert client.get("/search", params={"q": "dose", "design": "cohort"}).status_code == 422


def test_http_ask_carries_a_receipt(client, pipeline):
    receipt = client.post("/ask", json={"question": "What was the dose of ketamine?", "k": 3}).json()["receipt"]
    assert receipt["index"]["build_id"] == pipeline.data.build_id
    assert receipt["model"] == {"name": "fake", "backend": "FakeEmbedder", "weights_sha256": None}
    assert receipt["request"]["question"] == "What was the dose of ketamine?" and receipt["request"]["k"] == 3
    assert receipt["settings"]["refusal_threshold"] == 0.43
    assert receipt["settings"]["hybrid_stages"] == list(Settings().hybrid_stages)  # as JSON has it
    # every setting that can change an answer, including the verdict's second opinion and the
    # dense index's size threshold; not where files are or how fast vectors are computed
    assert receipt["settings"]["second_opinion"] == "none" and receipt["settings"]["exact_search_below"] == 50_000
    assert not {"index_dir", "embed_threads", "api_port", "batch_size"} & set(receipt["settings"])
    assert set(receipt["papers"]) == {"case", "cohort", "review"}
    assert all(len(c["passage_sha256"]) == 64 for c in receipt["citations"]) and receipt["citations"]
    again = client.post("/ask", json={"question": "What was the dose of ketamine?", "k": 3}).json()["receipt"]
    assert again == receipt  # no clock time in it: the same question and setup give the same receipt


# ---------------------------------------------------------------------------- replay


QUESTION = "What dose of ketamine did she receive?"


@pytest.fixture
def saved(cli, tmp_path) -> Path:
    result = cli("ask", QUESTION, "--json")
    assert result.exit_code == 0, result.output
    path = tmp_path / "answer.json"
    path.write_text(result.stdout, encoding="utf-8")
    assert json.loads(result.stdout)["citations"], "the receipt must cite something to be worth replaying"
    return path


def test_replay_after_a_restart_is_identical(cli, saved):
    result = cli("replay", str(saved))  # a new process would open the same index and model the same way
    assert (result.exit_code, result.stdout) == (0, "identical\n")


def test_replay_after_a_paper_is_edited_names_the_paper_and_the_build(cli, saved, settings, corpus):
    paper = corpus / "case.txt"
    paper.write_text(paper.read_text().replace("20 mg/h", "25 mg/h"), encoding="utf-8")
    reindex = ["index", "--corpus", str(corpus), "--index", str(settings.index_dir)]
    assert CliRunner().invoke(app, reindex).exit_code == 0
    result = cli("replay", str(saved), "--json")
    assert result.exit_code == 1
    kinds = {(d["kind"], d["what"]) for d in json.loads(result.stdout)["differences"]}
    assert ("paper", "case") in kinds and ("index build", "build_id") in kinds
    assert ("paper", "cohort") not in kinds  # unchanged papers are not reported
    human = cli("replay", str(saved)).stdout
    assert human.startswith("differs in ") and "paper case: " in human


def test_replay_after_a_setting_changes_names_the_setting(cli, saved, monkeypatch):
    monkeypatch.setenv("CRPS_QA_REFUSAL_THRESHOLD", "0.99")
    result = cli("replay", str(saved), "--json")
    differences = json.loads(result.stdout)["differences"]
    assert result.exit_code == 1
    assert {"kind": "setting", "what": "refusal_threshold", "before": 0.43, "after": 0.99} in differences
    assert {"kind": "answer", "what": "refused", "before": False, "after": True} in differences
    assert not [d for d in differences if d["kind"] in {"paper", "index build", "model"}]


def test_replay_refuses_a_file_that_is_not_a_receipt(cli, tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text('{"answer": "hi"}', encoding="utf-8")
    result = cli("replay", str(bad))
    assert result.exit_code == 2 and "not a crps-qa receipt" in result.stderr


@pytest.mark.model
def test_replay_in_a_new_process_with_the_real_model_is_identical(real_pipeline, real_settings, tmp_path):
    import os
    import subprocess
    import sys

    from conftest import REPO
    from crps_qa.receipt import AskRequest, make_receipt

    request = AskRequest("What was the highest ketamine infusion rate?", filters=EvidenceFilter.of(min_n=10))
    answer = request.run(real_pipeline)
    receipt = make_receipt(real_pipeline, answer, request)
    assert receipt["model"]["backend"] == "onnx-int8" and len(receipt["model"]["weights_sha256"]) == 64
    assert {c["doc_id"] for c in receipt["citations"]} <= {"mackay-low-dose-ketamine-retrospective",
                                                         "erasmus-low-dose-s-ketamine-cohort"}
    saved = tmp_path / "answer.json"
    saved.write_text(json.dumps({**answer.to_dict(), "receipt": receipt}), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRPS_QA_")}
    env.update(PYTHONPATH=str(REPO / "src"), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               CRPS_QA_EMBED_CACHE_DIR=str(real_settings.embed_cache_dir))  # the session's ONNX export
    result = subprocess.run([sys.executable, "-m", "crps_qa.cli", "replay", str(saved), "--index",
                             str(real_settings.index_dir)], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=600)
    assert (result.returncode, result.stdout) == (0, "identical\n"), result.stderr[-2000:]
