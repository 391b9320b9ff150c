"""The UI's HTTP client against httpx.MockTransport: paths, payloads and error translation."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ui.client import ApiClient, ApiError, ServiceDownError  # noqa: E402


def client_for(handler) -> tuple[ApiClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    return ApiClient("http://api.test/", transport=httpx.MockTransport(record)), seen


def test_ask_posts_only_the_options_given():
    client, seen = client_for(lambda r: httpx.Response(200, json={"answer": "x"}))
    assert client.ask("dose?", k=3, mode="bm25") == {"answer": "x"}
    assert seen[0].method == "POST" and seen[0].url.path == "/ask"
    assert json.loads(seen[0].content) == {"question": "dose?", "k": 3, "mode": "bm25"}


def test_passage_id_with_hash_is_url_encoded():
    client, seen = client_for(lambda r: httpx.Response(200, json={"passage": {}}))
    client.passage("mackay#3f2a")
    assert seen[0].url.raw_path == b"/passages/mackay%233f2a"


def test_documents_unwraps_the_documents_list():
    client, _ = client_for(lambda r: httpx.Response(200, json={"documents": [{"doc_id": "a"}]}))
    assert client.documents() == [{"doc_id": "a"}]


def test_not_ready_503_is_a_status_not_an_error():
    body = {"ready": False, "detail": "No index in index/. Run: crps-qa index", "build_id": None}
    client, _ = client_for(lambda r: httpx.Response(503, json=body))
    assert client.ready() == body


@pytest.mark.parametrize(
    ("response", "detail"),
    [
        (httpx.Response(422, json={"detail": "The query is empty."}), "The query is empty."),
        (httpx.Response(422, json={"detail": [{"loc": ["body", "k"], "msg": "too big"}]}), "k: too big"),
        (httpx.Response(404, json={"detail": "No document 'x'."}), "No document 'x'."),
    ],
)
def test_error_detail_is_carried_with_its_status(response, detail):
    client, _ = client_for(lambda r: response)
    with pytest.raises(ApiError) as caught:
        client.ask("q")
    assert caught.value.detail == detail and caught.value.status == response.status_code
    assert not isinstance(caught.value, ServiceDownError)


def test_connection_refused_is_service_down():
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client, _ = client_for(refuse)
    with pytest.raises(ServiceDownError, match="cannot reach http://api.test"):
        client.ready()
    with pytest.raises(ServiceDownError):
        client.documents()
