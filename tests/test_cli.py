"""The command line, in-process with the fake embedder: output contracts and one-line errors."""

import json

import pytest
from typer.testing import CliRunner

from crps_qa.cli import app
from crps_qa.index import embed
from fakes import FakeEmbedder


@pytest.fixture
def cli(tmp_path, tiny_corpus, monkeypatch):
    monkeypatch.setenv("CRPS_QA_MODEL", "fake")
    monkeypatch.setattr(embed, "load_embedder", lambda name, **_: FakeEmbedder(name))
    runner = CliRunner()
    index_dir = str(tmp_path / "index")

    def invoke(*args: str):
        return runner.invoke(app, list(args))

    invoke.index_dir = index_dir
    invoke.corpus = str(tiny_corpus)
    return invoke


@pytest.fixture
def indexed(cli):
    result = cli("index", "--corpus", cli.corpus, "--index", cli.index_dir)
    assert result.exit_code == 0, result.output
    return cli


def test_index_reports_what_it_did(cli):
    result = cli("index", "--corpus", cli.corpus, "--index", cli.index_dir)
    assert result.exit_code == 0
    assert "indexed 2 documents" in result.stderr


def test_index_if_stale_skips_an_up_to_date_index(indexed):
    result = indexed("index", "--if-stale", "--corpus", indexed.corpus, "--index", indexed.index_dir)
    assert "up to date" in result.stderr


def test_search_json_prints_one_object_with_hits(indexed):
    result = indexed("search", "maximum infusion rate", "--k", "2", "--json", "--index", indexed.index_dir)
    assert result.exit_code == 0
    record = json.loads(result.stdout)
    assert len(record["hits"]) == 2 and "40 mg/h" in record["hits"][0]["text"]


def test_search_human_output_cites_the_source(indexed):
    result = indexed("search", "skin temperature", "--k", "1", "--index", indexed.index_dir)
    assert "[1] Skin temperature after ketamine" in result.stdout and "Case Report" in result.stdout


def test_a_corrected_typo_is_shown_before_the_results(indexed):
    result = indexed("search", "skin temperatre", "--k", "1", "--index", indexed.index_dir)
    assert result.stdout.startswith("Searched for: skin temperature (temperatre → temperature)")
    assert "[1] Skin temperature after ketamine" in result.stdout
    answer = indexed("ask", "What was the maximum infusoin rate?", "--index", indexed.index_dir)
    assert answer.stdout.startswith("Searched for: What was the maximum infusion rate? (infusoin → infusion)")
    record = json.loads(indexed("search", "skin temperatre", "--json", "--index", indexed.index_dir).stdout)
    assert record["corrections"] == [{"word": "temperatre", "correction": "temperature"}]
    as_typed = indexed("search", "skin temperatre", "--as-typed", "--json", "--index", indexed.index_dir)
    assert json.loads(as_typed.stdout)["corrections"] == []


def test_batch_search_writes_exactly_one_line_per_query(indexed, tmp_path):
    queries = tmp_path / "q.jsonl"
    queries.write_text('{"id": "a", "question": "nausea"}\n\n{"id": 7, "question": "cold foot"}\n')
    result = indexed("search", "--queries", str(queries), "--k", "3", "--json", "--index", indexed.index_dir)
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["id"] for r in records] == ["a", 7]
    assert all(len(r["hits"]) <= 3 and set(r) == {"id", "hits", "corrections"} for r in records)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"id": "a", "question": "ok"}\n{not json}\n', "line 2 is not valid JSON"),
        ('{"id": "a"}\n', 'line 1 needs "id" and "question"'),
        ('{"id": "a", "question": "  "}\n', "line 1 has an empty question"),
    ],
)
def test_bad_queries_file_is_one_clear_error(indexed, tmp_path, content, message):
    queries = tmp_path / "q.jsonl"
    queries.write_text(content)
    result = indexed("search", "--queries", str(queries), "--json", "--index", indexed.index_dir)
    assert result.exit_code == 2 and message in result.stderr and result.stdout == ""


def test_missing_queries_file(indexed, tmp_path):
    result = indexed("search", "--queries", str(tmp_path / "none.jsonl"), "--index", indexed.index_dir)
    assert result.exit_code == 2 and "Cannot read queries file" in result.stderr


def test_empty_query_is_refused(indexed):
    result = indexed("search", "  ", "--index", indexed.index_dir)
    assert result.exit_code == 2 and "empty" in result.stderr


def test_search_without_index_names_the_command_that_builds_it(cli, tmp_path):
    result = cli("search", "dose", "--index", str(tmp_path / "missing"))
    assert result.exit_code == 3
    assert "crps-qa index --index" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_documents_lists_metadata_and_passage_counts(indexed):
    result = indexed("documents", "--json", "--index", indexed.index_dir)
    docs = [json.loads(line) for line in result.stdout.splitlines()]
    assert {d["doc_id"] for d in docs} == {"dosing", "skin"} and all(d["passages"] > 0 for d in docs)
