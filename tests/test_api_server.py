"""The service under load and over real HTTP: an index swapped while requests run, and a real
uvicorn process (``crps-qa serve`` with the fake embedder) on a free loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from crps_qa.api import create_app
from crps_qa.index.build import build
from crps_qa.pipeline import Pipeline

TESTS = Path(__file__).resolve().parent


def wait_for(condition, timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def swap_under_load(client: httpx.Client, settings, embedder, *, threads: int = 4) -> str:
    """Rebuild the index with a changed corpus while ``threads`` clients search and list documents;
    every request must succeed and /ready must end up on the new build. Returns the new build id."""
    before = client.get("/ready").json()["build_id"]
    stop, statuses, errors = threading.Event(), [], []

    def work() -> None:
        while not stop.is_set():
            try:
                for response in (
                    client.get("/search", params={"q": "ketamine dose", "k": 3}),
                    client.post("/search", json={"query": "mirror therapy", "mode": "bm25"}),
                    client.get("/documents"),
                ):
                    statuses.append(response.status_code)
            except Exception as exc:  # noqa: BLE001 - any failure at all fails the test
                errors.append(exc)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    try:
        wait_for(lambda: len(statuses) >= 20, what="requests before the swap")
        (settings.corpus_dir / "mirror.txt").write_text(
            "Mirror therapy\n\nMirror therapy eased phantom limb pain.", encoding="utf-8"
        )
        build(settings, embedder)
        wait_for(lambda: client.get("/ready").json()["build_id"] != before, what="the new build")
        served = len(statuses)
        wait_for(lambda: len(statuses) >= served + 20, what="requests after the swap")
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=30)
    assert errors == [] and set(statuses) == {200}, (errors[:3], sorted(set(statuses)))
    ready = client.get("/ready").json()
    assert ready["documents"] == 3 and ready["build_id"] != before
    hit = client.get("/search", params={"q": "mirror therapy", "k": 1}).json()["hits"][0]
    assert hit["doc_id"] == "mirror"
    return ready["build_id"]


def test_index_swap_under_concurrent_requests_in_process(tiny_settings, fake_embedder):
    build(tiny_settings, fake_embedder)
    app = create_app(
        tiny_settings, pipeline_factory=lambda s: Pipeline.open(s, embedder=fake_embedder), poll_seconds=0.05
    )
    with TestClient(app) as client:
        swap_under_load(client, tiny_settings, fake_embedder)


def test_a_slow_search_does_not_block_other_requests(tiny_settings, fake_embedder):
    """Search embeds on a worker thread: while one is stuck in the model, /health still answers."""
    build(tiny_settings, fake_embedder)
    entered, release = threading.Event(), threading.Event()

    class StuckEmbedder:
        name, dimension = fake_embedder.name, fake_embedder.dimension

        def encode(self, texts, **kwargs):
            entered.set()
            release.wait(timeout=30)
            return fake_embedder.encode(texts, **kwargs)

    app = create_app(tiny_settings, pipeline_factory=lambda s: Pipeline.open(s, embedder=StuckEmbedder()))
    with TestClient(app) as client:
        slow = threading.Thread(target=client.get, args=("/search",), kwargs={"params": {"q": "dose"}})
        slow.start()
        try:
            assert entered.wait(timeout=10)
            started = time.monotonic()
            assert client.get("/health").status_code == 200
            assert client.get("/search", params={"q": "nausea", "mode": "bm25"}).status_code == 200
            assert time.monotonic() - started < 5
        finally:
            release.set()
            slow.join(timeout=30)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def server(tiny_settings, tmp_path):
    """``crps-qa serve`` as a subprocess on 127.0.0.1 (no index yet); stopped by PID at teardown."""
    port = free_port()
    log = open(tmp_path / "server.log", "w")  # noqa: SIM115 - closed at teardown
    command = [
        sys.executable,
        str(TESTS / "fake_serve.py"),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    command += ["--index", str(tiny_settings.index_dir), "--poll", "0.1", "--threads", "0"]
    env = {**os.environ, "CRPS_QA_MODEL": "fake", "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)

    def up() -> bool:
        assert process.poll() is None, (tmp_path / "server.log").read_text()
        try:
            return client.get("/health").status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_for(up, timeout=60, what="the server to answer /health")
        yield client
    finally:
        client.close()
        stop_server(process, timeout=15)
        log.close()


@pytest.mark.server
def test_real_server_starts_without_an_index_becomes_ready_and_swaps_builds(
    server, tiny_settings, fake_embedder
):
    ready = server.get("/ready")
    assert ready.status_code == 503 and "crps-qa index" in ready.json()["detail"]
    assert server.get("/search", params={"q": "dose"}).status_code == 503

    build(tiny_settings, fake_embedder)
    wait_for(lambda: server.get("/ready").status_code == 200, what="the first index to be picked up")
    body = server.get("/search", params={"q": "maximum infusion rate", "k": 2}).json()
    assert "40 mg/h" in body["hits"][0]["text"]
    assert server.get("/search", params={"q": " "}).json() == {
        "detail": "The query is empty. Type a question, e.g. 'What dose of ketamine was used?'"
    }
    assert server.post("/ask", json={"question": "What was the maximum infusion rate?"}).status_code == 200

    swap_under_load(server, tiny_settings, fake_embedder, threads=8)


def stop_server(process: subprocess.Popen, *, timeout: float) -> None:
    """SIGTERM (uvicorn shuts down gracefully, stopping its workers), then SIGKILL after ``timeout`` s."""
    os.kill(process.pid, 15)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, 9)
        process.wait()
