"""Scaling out without a cluster: `index --ray` names the extra to install when Ray is missing, and
every `serve --workers N` process builds its app from the options the command was given and
switches to a new index build on its own."""

import json
import os
import subprocess
import sys

import httpx
import pytest
from typer.testing import CliRunner

from crps_qa.cli import admin, app
from crps_qa.index.build import build
from test_api_server import TESTS, free_port, stop_server, wait_for


def test_index_on_ray_without_ray_installed_says_which_extra_to_install(monkeypatch, tiny_corpus, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    result = CliRunner().invoke(app, ["index", "--ray", "local", "--corpus", str(tiny_corpus),
                                      "--index", str(tmp_path / "index")])
    assert result.exit_code != 0
    assert 'pip install -e ".[ray]"' in result.stderr
    assert not (tmp_path / "index").exists()


def test_each_serve_worker_builds_its_app_from_the_serve_options(monkeypatch, tmp_path):
    options = {"settings": {"index_dir": str(tmp_path / "shared-index"), "api_port": 8123}, "poll": 2.5,
               "threads": 0}
    monkeypatch.setenv(admin.WORKER_OPTIONS, json.dumps(options))
    first, second = admin.worker_app(), admin.worker_app()
    assert first is not second
    for worker in (first, second):
        assert worker.state.service.settings.index_dir == tmp_path / "shared-index"
        assert worker.state.service.settings.api_port == 8123


def test_serve_workers_share_the_cores_unless_told_otherwise(monkeypatch, tmp_path):
    import uvicorn

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: calls.append(kwargs))
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    monkeypatch.delenv(admin.WORKER_OPTIONS, raising=False)
    index = str(tmp_path / "index")
    CliRunner().invoke(app, ["serve", "--index", index, "--workers", "4"])
    assert calls[-1]["workers"] == 4
    assert json.loads(os.environ[admin.WORKER_OPTIONS])["settings"]["embed_threads"] == 2  # 8 cores / 4
    CliRunner().invoke(app, ["serve", "--index", index, "--workers", "4"], env={"CRPS_QA_EMBED_THREADS": "3"})
    assert json.loads(os.environ[admin.WORKER_OPTIONS])["settings"]["embed_threads"] == 3  # set: kept
    monkeypatch.delenv(admin.WORKER_OPTIONS)


@pytest.mark.server
def test_every_serve_worker_switches_to_a_new_build(tiny_settings, fake_embedder, tmp_path):
    first = build(tiny_settings, fake_embedder).build_dir.name
    port = free_port()
    command = [sys.executable, str(TESTS / "fake_serve.py"), "serve", "--host", "127.0.0.1", "--port", str(port),
               "--index", str(tiny_settings.index_dir), "--poll", "0.2", "--threads", "0", "--workers", "2"]
    env = {**os.environ, "CRPS_QA_MODEL": "fake", "HF_HUB_OFFLINE": "1"}
    with open(tmp_path / "server.log", "w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}/ready"

    def builds(n: int = 40) -> set[str | None]:
        """The build id each of n requests saw, each on a new connection (so both workers answer)."""
        seen = set()
        for _ in range(n):
            try:
                response = httpx.get(url, timeout=30)
                seen.add(response.json().get("build_id") if response.status_code == 200 else None)
            except httpx.TransportError:
                seen.add(None)
        return seen

    try:
        wait_for(lambda: builds() == {first}, timeout=120, what="both workers to serve the first build")
        (tiny_settings.corpus_dir / "added.txt").write_text("Ketamine lowered pain scores.", encoding="utf-8")
        second = build(tiny_settings, fake_embedder).build_dir.name
        wait_for(lambda: builds() == {second}, timeout=60, what="every worker to switch to the new build")
    finally:
        stop_server(process, timeout=30)
