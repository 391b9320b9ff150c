"""Scaling out without a cluster: `index --ray` names the extra to install when Ray is missing, and
every `serve --workers N` process builds its app from the options the command was given."""

import json
import sys

from typer.testing import CliRunner

from crps_qa.cli import admin, app


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
