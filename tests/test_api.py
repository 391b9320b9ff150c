"""The HTTP service in-process (TestClient) with the fake embedder: every endpoint and every error."""

from __future__ import annotations

import time
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from crps_qa.api import create_app
from crps_qa.api.deps import get_pipeline
from crps_qa.index.build import build
from crps_qa.pipeline import Pipeline
from crps_qa.settings import Settings


def make_app(settings: Settings, embedder, **options):
    options.setdefault("poll_seconds", None)
    return create_app(settings, pipeline_factory=lambda s: Pipeline.open(s, embedder=embedder), **options)


def passage_url(chunk_id: str) -> str:
    return "/passages/" + quote(chunk_id, safe="")  # chunk ids hold a '#', which must be sent as %23


@pytest.fixture
def indexed(tiny_settings, fake_embedder) -> Settings:
    build(tiny_settings, fake_embedder)
    return tiny_settings


@pytest.fixture
def client(indexed, fake_embedder):
    with TestClient(make_app(indexed, fake_embedder)) as client:
        yield client


@pytest.fixture
def pipeline(client) -> Pipeline:
    return client.app.state.service.pipeline


# ---------------------------------------------------------------------------- health and readiness


def test_health_is_ok(client):
    assert client.get("/health").json() == {"status": "ok"}


def test_ready_reports_the_served_index(client, pipeline, indexed):
    body = client.get("/ready").json()
    assert body["ready"] is True and body["detail"] is None
    assert body["build_id"] == pipeline.data.build_id and body["built_at"]
    assert (body["documents"], body["passages"]) == (2, len(pipeline.data.passages))
    assert body["model"] == "fake" and body["index_dir"] == str(indexed.index_dir)


# ---------------------------------------------------------------------------- search


def test_get_search_returns_hits_exactly_as_the_pipeline_does(client, pipeline):
    response = client.get("/search", params={"q": "maximum  infusion rate", "k": 2, "mode": "hybrid"})
    assert response.status_code == 200
    body = response.json()
    assert (body["query"], body["mode"], body["k"]) == ("maximum infusion rate", "hybrid", 2)
    assert body["hits"] == [h.to_dict() for h in pipeline.search("maximum infusion rate", k=2)]
    assert "40 mg/h" in body["hits"][0]["text"]


def test_search_and_ask_report_corrected_typos(client):
    body = client.get("/search", params={"q": "maximum infusoin rate", "k": 2}).json()
    assert body["query"] == "maximum infusion rate"
    assert body["corrections"] == [{"word": "infusoin", "correction": "infusion"}]
    assert body["hits"] == client.get("/search", params={"q": "maximum infusion rate", "k": 2}).json()["hits"]
    answer = client.post("/ask", json={"question": "What was the maximum infusoin rate?"}).json()
    assert answer["question"] == "What was the maximum infusoin rate?"
    assert answer["corrections"] == [{"word": "infusoin", "correction": "infusion"}] and not answer["refused"]


def test_correction_can_be_turned_off_per_request(client):
    body = client.get("/search", params={"q": "maximum infusoin rate", "correct_spelling": "false"}).json()
    assert body["query"] == "maximum infusoin rate" and body["corrections"] == []
    posted = client.post("/search", json={"query": "maximum infusoin rate", "correct_spelling": False}).json()
    assert posted["corrections"] == [] and posted["hits"] == body["hits"]
    answer = client.post("/ask", json={"question": "What was the maximum infusoin rate?",
                                       "correct_spelling": False}).json()
    assert answer["corrections"] == []
    assert client.post("/ask", json={"question": "x y z", "correct_spelling": "no"}).status_code == 422


def test_post_search_matches_get(client):
    got = client.get("/search", params={"q": "cold foot", "k": 3, "mode": "bm25"}).json()
    posted = client.post("/search", json={"query": "cold foot", "k": 3, "mode": "bm25"}).json()
    aliased = client.post("/search", json={"q": "cold foot", "k": 3, "mode": "bm25"}).json()
    assert got == posted == aliased


def test_k_defaults_to_the_setting(client, indexed):
    body = client.get("/search", params={"q": "ketamine"}).json()
    assert body["k"] == indexed.default_k and body["mode"] == "hybrid"


@pytest.mark.parametrize("method", ["get", "post"])
def test_doc_id_filters_the_hits(client, method):
    if method == "get":
        response = client.get("/search", params={"q": "ketamine", "k": 10, "doc_id": "skin"})
    else:
        response = client.post("/search", json={"query": "ketamine", "k": 10, "doc_id": ["skin"]})
    hits = response.json()["hits"]
    assert hits and {h["doc_id"] for h in hits} == {"skin"}


LONG = "ketamine " * 200  # 1800 characters, over max_query_chars


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"q": ""}, "The query is empty."),
        ({"q": "   \t "}, "The query is empty."),
        ({"q": LONG}, "the limit is 1000"),
        ({"q": "dose", "k": 0}, "k must be between 1 and 50, got 0."),
        ({"q": "dose", "k": 51}, "k must be between 1 and 50, got 51."),
        ({"q": "dose", "k": -3}, "k must be between 1 and 50"),
        ({"q": "dose", "mode": "fuzzy"}, "Unknown mode 'fuzzy'; use one of: hybrid, dense, bm25."),
        ({"q": "dose", "k": "five"}, "k: Input should be a valid integer"),
        ({}, "q is required."),
    ],
)
def test_bad_search_input_is_a_readable_422(client, params, message):
    response = client.get("/search", params=params)
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], str) and message in response.json()["detail"]
    body = {("query" if key == "q" else key): value for key, value in params.items()}
    posted = client.post("/search", json=body)
    assert posted.status_code == 422 and isinstance(posted.json()["detail"], str)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"json": {"query": "dose", "limit": 3}}, "limit: Extra inputs are not permitted"),
        ({"json": ["dose"]}, "Input should be a valid dictionary"),
        ({"content": b"{not json", "headers": {"content-type": "application/json"}}, "JSON decode error"),
        ({"json": {"query": 7}}, "query: Input should be a valid string"),
    ],
)
def test_malformed_post_bodies_are_a_readable_422(client, kwargs, message):
    response = client.post("/search", **kwargs)
    assert response.status_code == 422 and message in response.json()["detail"]


def test_unknown_document_filter_is_404(client):
    response = client.get("/search", params={"q": "dose", "doc_id": ["skin", "nope"]})
    assert response.status_code == 404
    assert response.json() == {"detail": "Unknown document id(s): nope. List them with: crps-qa documents"}


# ---------------------------------------------------------------------------- ask


def test_ask_returns_the_pipelines_answer(client, pipeline):
    response = client.post("/ask", json={"question": "What was the maximum infusion rate?", "k": 2})
    assert response.status_code == 200
    body = response.json()
    receipt = body.pop("receipt")
    assert body == pipeline.ask("What was the maximum infusion rate?", k=2).to_dict()
    assert set(body) == {"question", "answer", "refused", "confidence", "citations", "passages", "missing_terms",
                         "corrections", "query", "verdict"}
    assert receipt["index"]["build_id"] == pipeline.data.build_id
    assert body["verdict"] in {"answered", "uncertain", "not_found"}
    assert len(body["passages"]) <= 2


def test_ask_refusal_is_an_answer_not_an_error(client):
    body = client.post("/ask", json={"question": "Which football club won the league in 1998?"}).json()
    assert body["refused"] is True and body["citations"] == []
    assert body["answer"].startswith("Not found in the corpus")


def test_ask_citations_quote_the_document_text(client, pipeline):
    body = client.post(
        "/ask", json={"question": "How much did the skin temperature rise?", "doc_id": "skin"}
    ).json()
    text = pipeline.data.texts["skin"].text
    for citation in body["citations"]:
        assert text[citation["char_start"] : citation["char_end"]] == citation["quote"]
        assert f"[{citation['marker']}]" in body["answer"]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"question": " "}, 422, "The query is empty."),
        ({"question": "dose", "k": 99}, 422, "k must be between 1 and 50"),
        ({"question": "dose", "mode": "semantic"}, 422, "Unknown mode 'semantic'"),
        ({}, 422, "question is required."),
        ({"question": "dose", "doc_id": ["nope"]}, 404, "Unknown document id(s): nope."),
    ],
)
def test_bad_ask_input(client, body, status, message):
    response = client.post("/ask", json=body)
    assert response.status_code == status and message in response.json()["detail"]


# ---------------------------------------------------------------------------- documents and passages


def test_documents_lists_metadata_and_passage_counts(client, pipeline):
    documents = client.get("/documents").json()["documents"]
    assert [d["doc_id"] for d in documents] == list(pipeline.data.documents)
    assert sum(d["passages"] for d in documents) == len(pipeline.data.passages)
    skin = next(d for d in documents if d["doc_id"] == "skin")
    assert skin["title"] == "Skin temperature after ketamine"
    assert {"authors", "year", "venue", "study_type", "path"} <= set(skin)


def test_document_detail_has_sections_and_optional_text(client, pipeline):
    body = client.get("/documents/dosing").json()
    assert body["text"] is None and body["pages"] is None
    assert [s["title"] for s in body["sections"]] == ["Methods", "Results"]
    text = client.get("/documents/dosing", params={"include_text": True}).json()["text"]
    assert len(text) == body["chars"]
    passage = next(p for p in pipeline.data.passages if p.doc_id == "dosing")
    assert text[passage.char_start : passage.char_end] == passage.text


def test_unknown_document_is_404(client):
    response = client.get("/documents/nope")
    assert response.status_code == 404 and "GET /documents" in response.json()["detail"]


def test_passage_comes_with_its_neighbours_in_the_same_document(client, pipeline):
    rows = [p for p in pipeline.data.passages if p.doc_id == "dosing"]
    assert len(rows) >= 3, "the tiny corpus should chunk dosing.txt into several passages"
    body = client.get(passage_url(rows[1].chunk_id)).json()
    assert (
        body["passage"]["chunk_id"] == rows[1].chunk_id
        and body["passage"]["title"] == "Ketamine dosing in CRPS"
    )
    assert body["previous"]["chunk_id"] == rows[0].chunk_id and body["next"]["chunk_id"] == rows[2].chunk_id
    first, last = (
        client.get(passage_url(rows[0].chunk_id)).json(),
        client.get(passage_url(rows[-1].chunk_id)).json(),
    )
    assert first["previous"] is None and last["next"] is None


def test_search_hit_chunk_ids_resolve_to_passages(client):
    hit = client.get("/search", params={"q": "nausea", "k": 1}).json()["hits"][0]
    passage = client.get(passage_url(hit["chunk_id"])).json()["passage"]
    assert passage == {key: hit[key] for key in passage}


def test_unknown_passage_is_404(client):
    response = client.get("/passages/dosing%23000000000000")
    assert response.status_code == 404 and "dosing#000000000000" in response.json()["detail"]


# ---------------------------------------------------------------------------- no index, reload


@pytest.fixture
def empty_client(tiny_settings, fake_embedder):
    with TestClient(make_app(tiny_settings, fake_embedder)) as client:
        yield client


def test_service_starts_without_an_index_and_says_how_to_build_one(empty_client, tiny_settings):
    assert empty_client.get("/health").status_code == 200
    ready = empty_client.get("/ready")
    assert ready.status_code == 503 and ready.json()["ready"] is False
    assert f"crps-qa index --index {tiny_settings.index_dir}" in ready.json()["detail"]
    for path in ("/search?q=dose", "/documents", "/documents/dosing", "/passages/x"):
        response = empty_client.get(path)
        assert response.status_code == 503 and "crps-qa index" in response.json()["detail"], path
    response = empty_client.post("/ask", json={"question": "dose"})
    assert response.status_code == 503 and "crps-qa index" in response.json()["detail"]


def test_an_index_built_later_is_picked_up_by_reload(empty_client, tiny_settings, fake_embedder):
    assert empty_client.post("/reload").status_code == 503
    build(tiny_settings, fake_embedder)
    body = empty_client.post("/reload").json()
    assert body["ready"] is True and body["reloaded"] is True and body["passages"] > 0
    assert empty_client.get("/search", params={"q": "nausea"}).status_code == 200
    assert empty_client.post("/reload").json()["reloaded"] is False


def test_reload_loads_a_new_build_and_ready_shows_it(client, indexed, fake_embedder):
    before = client.get("/ready").json()["build_id"]
    (indexed.corpus_dir / "third.txt").write_text("Mirror therapy\n\nMirror therapy eased phantom pain.")
    build(indexed, fake_embedder)
    body = client.post("/reload").json()
    assert body["reloaded"] is True and body["build_id"] != before and body["documents"] == 3
    assert (
        client.get("/search", params={"q": "mirror therapy", "k": 1}).json()["hits"][0]["doc_id"] == "third"
    )


def test_a_broken_new_build_is_reported_while_the_old_index_keeps_serving(client, indexed):
    before = client.get("/ready").json()["build_id"]
    broken = indexed.index_dir / "builds" / "broken"
    broken.mkdir()
    (broken / "manifest.json").write_text("{not json")
    (indexed.index_dir / "current").unlink()
    (indexed.index_dir / "current").symlink_to("builds/broken")
    body = client.post("/reload").json()
    assert body["ready"] is True and body["reloaded"] is False and body["build_id"] == before
    assert "crps-qa index --rebuild" in body["detail"]
    assert client.get("/ready").json()["detail"] == body["detail"]
    assert client.get("/search", params={"q": "nausea"}).status_code == 200


def test_poller_picks_up_a_new_build_without_a_request(indexed, fake_embedder):
    import time

    with TestClient(make_app(indexed, fake_embedder, poll_seconds=0.05)) as client:
        before = client.get("/ready").json()["build_id"]
        build(indexed, fake_embedder, rebuild=True)
        deadline = time.monotonic() + 10
        while client.get("/ready").json()["build_id"] == before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert client.get("/ready").json()["build_id"] != before


# ---------------------------------------------------------------------------- wiring


def test_the_pipeline_can_be_replaced_with_a_dependency_override(client):
    class Broken:
        def validate(self, *args, **kwargs):
            raise RuntimeError("boom")

    client.app.dependency_overrides[get_pipeline] = lambda: Broken()
    with TestClient(client.app, raise_server_exceptions=False) as broken:
        response = broken.get("/search", params={"q": "dose"})
    assert response.status_code == 500 and response.json() == {
        "detail": "Internal error (RuntimeError); see the service log."
    }


def test_serve_binds_loopback_by_default(monkeypatch, indexed):
    import uvicorn
    from typer.testing import CliRunner

    from crps_qa.cli import app

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda application, **kwargs: calls.append(kwargs))
    result = CliRunner().invoke(app, ["serve", "--index", str(indexed.index_dir), "--threads", "0"])
    assert result.exit_code == 0, result.output
    assert calls == [{"host": "127.0.0.1", "port": 8000, "log_level": "info"}]
    result = CliRunner().invoke(app, ["serve", "--port", "0"])
    assert result.exit_code == 2 and "api_port" in result.stderr


def test_openapi_documents_every_endpoint_with_examples(client):
    schema = client.get("/openapi.json").json()
    assert {
        "/search",
        "/ask",
        "/documents",
        "/documents/{doc_id}",
        "/passages/{chunk_id}",
        "/health",
        "/ready",
        "/reload",
    } <= set(schema["paths"])
    assert schema["components"]["schemas"]["SearchIn"]["examples"]
    docs = client.get("/docs")
    assert docs.status_code == 200 and "cdn" not in docs.text  # the service is offline: assets are local
    assert client.get("/static-offline-docs/swagger-ui-bundle.js").status_code == 200


def test_the_service_warms_the_sentence_token_vectors_in_the_background_and_says_when_done(client, pipeline):
    sentences = {(p.doc_id, a, b) for row, p in enumerate(pipeline.data.passages)
                 for a, b in pipeline.retriever.matcher.sentence_spans(row)}
    deadline = time.monotonic() + 10
    while not client.get("/ready").json()["warmed"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert client.get("/ready").json()["warmed"] is True
    assert pipeline.retriever.matcher.cached() == len(sentences)
