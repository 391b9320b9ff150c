"""The real corpus with the real model: citations are exact, the eval set is met, and the CLI
contract holds end to end in a subprocess."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from crps_qa.evaluate.harness import evaluate_answers, evaluate_retrieval, load_questions, squash
from crps_qa.query.spelling import variant_key

pytestmark = pytest.mark.model

REPO = Path(__file__).resolve().parent.parent
QUESTIONS = REPO / "eval" / "questions.jsonl"
PROBE = REPO / "eval" / "probe.jsonl"  # written after tuning; README "Answers"
HOLDOUT = REPO / "eval" / "holdout.jsonl"  # never tuned on; README "Answers"
HOLDOUT2 = REPO / "eval" / "holdout2.jsonl"  # written in the fourth session, run once; README "Answers"
TYPOS = REPO / "eval" / "typos.jsonl"  # the eval set with typing errors (eval/make_typos.py)
# Quality gates, a question or so from the measured value (README "Results"); a change that makes
# retrieval or answers worse than this fails the suite. Measured 2026-12-02 with the int8 encoder
# running each text alone, so the same code always gives the same vectors (eval/TUNING.md, "Each
# text encoded alone, adopted"); before that, vectors moved with their batch neighbours and the
# batch_size setting alone moved each of these by a question.
HYBRID_HIT5_GATE = 0.92  # measured 0.932 (82 of 88)
ANSWER_HIT_GATE = 0.76  # measured 0.773 (68 of 88)
UNANSWERABLE_REFUSED_GATE = 0.80  # measured 1.000 (17 of 17)
ANSWERABLE_REFUSED_CEILING = 0.125  # measured 0.114 (10 of 88)
# The eval set with typing errors (eval/make_typos.py), spelling correction on
TYPO_ANSWER_HIT_GATE = 0.72  # measured 0.739 (65 of 88)
TYPO_ANSWERABLE_REFUSED_CEILING = 0.17  # measured 0.159 (14 of 88)


def test_every_passage_is_an_exact_span_of_its_cleaned_document(real_pipeline):
    data = real_pipeline.data
    assert len(data.documents) == 5
    for passage in data.passages:
        assert data.texts[passage.doc_id].text[passage.char_start : passage.char_end] == passage.text


def test_cleaned_corpus_has_no_extraction_artifacts(real_pipeline):
    texts = real_pipeline.data.texts
    joined = "\n".join(t.text for t in texts.values())
    assert "£25mg/hr" not in joined and "≤25mg/hr" in joined
    assert "M ETHODS" not in joined and "S- ketamine" not in joined
    assert "S-ketamine" in texts["erasmus-low-dose-s-ketamine-cohort"].text


@pytest.mark.parametrize("path", [QUESTIONS, PROBE, HOLDOUT, HOLDOUT2], ids=["eval", "probe", "holdout", "holdout2"])
def test_every_expected_answer_is_in_a_paper_and_unanswerable_questions_have_none(real_pipeline, path):
    papers = {doc_id: squash(t.text) for doc_id, t in real_pipeline.data.texts.items()}
    questions = load_questions(path)
    assert len({q.id for q in questions}) == len(questions)
    for q in questions:
        assert q.answerable == bool(q.answers), q.id
        for expected in q.answers:
            assert any(squash(expected) in text for text in papers.values()), (q.id, expected)


def test_hybrid_meets_the_recall_gate_on_the_eval_set(real_pipeline):
    questions = load_questions(QUESTIONS)
    report = evaluate_retrieval(real_pipeline.analyzer, real_pipeline.retriever, questions, modes=["hybrid"])
    assert report.questions >= 60
    assert report.metrics["hybrid"]["hit_rate@5"] >= HYBRID_HIT5_GATE, report.misses["hybrid"]


def test_answers_meet_the_quality_gates_on_the_eval_set(real_pipeline):
    report = evaluate_answers(real_pipeline.ask, load_questions(QUESTIONS))
    detail = {"misses": [m["id"] for m in report.misses], "wrongly answered": report.wrongly_answered}
    assert report.metrics["answer_hit_rate"] >= ANSWER_HIT_GATE, detail
    assert report.metrics["refusal_recall"] >= UNANSWERABLE_REFUSED_GATE, detail
    assert report.metrics["answerable_refused"] <= ANSWERABLE_REFUSED_CEILING, detail


def test_questions_with_typos_are_still_answered(real_pipeline):
    report = evaluate_answers(real_pipeline.ask, load_questions(TYPOS))
    detail = {"misses": [m["id"] for m in report.misses], "wrongly answered": report.wrongly_answered}
    assert report.metrics["answer_hit_rate"] >= TYPO_ANSWER_HIT_GATE, detail
    assert report.metrics["answerable_refused"] <= TYPO_ANSWERABLE_REFUSED_CEILING, detail
    assert report.metrics["refusal_recall"] >= UNANSWERABLE_REFUSED_GATE, detail


@pytest.mark.parametrize("path", [QUESTIONS, PROBE, HOLDOUT2], ids=["eval", "probe", "holdout2"])
def test_correctly_spelt_questions_are_searched_as_typed_but_in_the_papers_spelling(real_pipeline, path):
    corrected = {q.id: real_pipeline.validate(q.question).corrections for q in load_questions(path)}
    respelt = {i: c for i, c in corrected.items() if c}
    assert all(variant_key(c.word) == variant_key(c.correction) for cs in respelt.values() for c in cs), respelt
    assert len(respelt) <= 2, respelt  # q062's British "analysed" → the papers' "analyzed"


def _cli(*args: str, cwd: Path, cache: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    if cache is not None:  # the session's ONNX export, not a fresh one in the user's cache
        env["CRPS_QA_EMBED_CACHE_DIR"] = str(cache)
    command = [sys.executable, "-m", "crps_qa.cli", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_cli_batch_search_contract(real_pipeline, real_settings, tmp_path):
    queries = tmp_path / "q.jsonl"
    queries.write_text(
        json.dumps({"id": "rate", "question": "highest ketamine infusion rate used at Mackay"}) + "\n"
        + json.dumps({"id": "temp", "question": "did the skin get warmer after ketamine?"}) + "\n"
    )
    result = _cli("search", "--queries", str(queries), "--k", "4", "--json",
                  "--index", str(real_settings.index_dir), cwd=tmp_path, cache=real_settings.embed_cache_dir)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["id"] for r in records] == ["rate", "temp"]
    for record in records:
        assert len(record["hits"]) == 4
        for hit in record["hits"]:
            assert set(hit) == {"rank", "score", "doc_id", "title", "section", "page", "page_end",
                                "char_start", "char_end", "chunk_id", "text", "role"}
            text = real_pipeline.data.texts[hit["doc_id"]].text
            assert text[hit["char_start"] : hit["char_end"]] == hit["text"]


def test_cli_refuses_an_index_built_with_another_model(real_settings, tmp_path):
    env_model = "all-mpnet-base-v2"
    result = subprocess.run(
        [sys.executable, "-m", "crps_qa.cli", "search", "dose", "--index", str(real_settings.index_dir)],
        env={**os.environ, "HF_HUB_OFFLINE": "1", "CRPS_QA_MODEL": env_model},
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )
    assert result.returncode == 3
    assert "built with model 'all-MiniLM-L6-v2'" in result.stderr
    assert "crps-qa index --rebuild" in result.stderr
