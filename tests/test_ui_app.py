"""The Streamlit pages under AppTest, talking HTTP to a tiny fake of the service on 127.0.0.1.

The fake answers the contract's routes from canned JSON and records every request, so the tests
check both what the pages show and what they asked the service for.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from streamlit.testing.v1 import AppTest

APP = Path(__file__).resolve().parent.parent / "ui" / "app.py"

TEXT = "Ketamine was started at 10 mg/h. The maximum infusion rate was 40 mg/h. Pain fell."
QUOTE = "The maximum infusion rate was 40 mg/h."
HIT = {"rank": 1, "score": 0.91, "doc_id": "dosing", "title": "Ketamine dosing in CRPS", "section": "Methods",
       "page": 2, "char_start": 1000, "char_end": 1000 + len(TEXT), "chunk_id": "dosing#a1", "text": TEXT}
RELATED = {**HIT, "rank": 2, "score": 0.42, "doc_id": "skin", "title": "Skin temperature", "section": None,
           "page": None, "char_start": 0, "char_end": 32, "chunk_id": "skin#b2",
           "text": "The foot was <b>cold</b> at first."}
START = 1000 + TEXT.index(QUOTE)  # the quote's offset in the document
CITATION = {"marker": 1, "doc_id": "dosing", "title": "Ketamine dosing in CRPS", "section": "Methods",
            "page": 2, "char_start": START, "char_end": START + len(QUOTE), "quote": QUOTE,
            "chunk_id": "dosing#a1"}
ANSWER = {"question": "What was the maximum infusion rate?", "answer": f"{QUOTE} [1]", "refused": False,
          "confidence": 0.83, "citations": [CITATION], "passages": [HIT, RELATED]}
UNCERTAIN = {**ANSWER, "question": "Can I drive after a ketamine infusion?", "verdict": "uncertain",
             "answer": "Not sure: these passages may answer the question. Check the highlighted sentences.",
             "confidence": 0.31}
REFUSAL = {"question": "Who won the 1998 World Cup?", "refused": True, "confidence": 0.05, "citations": [],
           "answer": "Not found in the corpus: none of the indexed papers answers this question.",
           "passages": [RELATED]}
def facet(value: Any, start: int = 0, end: int = 0) -> dict[str, Any]:
    return {"value": value, "char_start": start, "char_end": end, "source": "text"}


DOSING_TEXT = "Forty patients were included. Ketamine was given intravenously at 10–40 mg/h for 5 days."
DOCUMENTS = {"documents": [
    {"doc_id": "dosing", "title": "Ketamine dosing in CRPS", "study_type": "retrospective cohort",
     "year": 2021, "authors": "Mackay et al.", "venue": "Pain Medicine", "path": "corpus/dosing.txt",
     "passages": 12,
     "facets": {"design": facet("retrospective cohort"), "n": facet(40, 0, 28),
                "population": None, "follow_up": None, "year": facet({"from": 2010, "to": 2015}),
                "intervention": facet({"drug": "ketamine", "route": "intravenous", "dose": "10–40 mg/h",
                                       "duration": "5 days"}, 30, len(DOSING_TEXT) - 1)}},
    {"doc_id": "skin", "title": "Skin temperature", "study_type": "case report", "year": None,
     "authors": None, "venue": None, "path": "corpus/skin.txt", "passages": 3,
     "facets": {"design": facet("case report"), "n": facet(1), "population": None, "intervention": None,
                "follow_up": None, "year": None}},
]}
RECEIPT = {"receipt_version": 1, "index": {"build_id": "b1"}, "request": {"question": "q"}}
ONE_PIXEL_PNG = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9aw"
                 "AAAABJRU5ErkJggg==")
READY = {"ready": True, "detail": None, "index_dir": "index", "model": "all-MiniLM-L6-v2", "build_id": "b1",
         "built_at": "2025-01-01T00:00:00+00:00", "documents": 2, "passages": 15, "checked_at": None}


class FakeApi:
    """Routes → canned JSON; ``requests`` holds (method, path, query, body) of every call."""

    def __init__(self) -> None:
        self.ready: tuple[int, dict[str, Any]] = (200, READY)
        self.answers: dict[str, dict[str, Any]] = {ANSWER["question"]: ANSWER, REFUSAL["question"]: REFUSAL,
                                                   UNCERTAIN["question"]: UNCERTAIN}
        self.requests: list[tuple[str, str, dict, dict | None]] = []

    def respond(self, method: str, path: str, query: dict, body: dict | None) -> tuple[int, Any]:
        self.requests.append((method, path, query, body))
        if path == "/ready":
            return self.ready
        if path == "/documents":
            return 200, DOCUMENTS
        if path == "/documents/dosing":
            return 200, {**DOCUMENTS["documents"][0], "text": DOSING_TEXT}
        if method == "POST" and path == "/ask":
            if not body["question"].strip():
                return 422, {"detail": "The question is empty."}
            return 200, self.answers.get(body["question"], {**ANSWER, "question": body["question"]})
        if path.startswith("/passages/"):
            chunk_id = unquote(path.removeprefix("/passages/"))
            hit = {h["chunk_id"]: h for h in (HIT, RELATED)}.get(chunk_id)
            if hit is None:
                return 404, {"detail": f"No passage with id {chunk_id!r}."}
            before = {**hit, "text": "Before that, the patient was assessed.", "char_end": hit["char_start"]}
            return 200, {"passage": hit, "previous": before, "next": None}
        return 404, {"detail": "Not Found"}

    def asked(self) -> list[dict]:
        return [body for method, path, _, body in self.requests if path == "/ask"]


@pytest.fixture
def fake_api(monkeypatch: pytest.MonkeyPatch):
    api = FakeApi()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, method: str) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            status, payload = api.respond(method, url.path, parse_qs(url.query), body)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            self._answer("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._answer("POST")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("CRPS_QA_API_URL", f"http://127.0.0.1:{server.server_address[1]}")
    yield api
    server.shutdown()
    server.server_close()


def run_app() -> AppTest:
    return AppTest.from_file(str(APP), default_timeout=20).run()


def markdown(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


def ask(at: AppTest, question: str) -> AppTest:
    at.text_input(key="question_box").input(question)
    (submit,) = [b for b in at.button if b.proto.is_form_submitter]
    return submit.click().run()


def test_answer_shows_markers_cited_sentence_highlighted_and_source_cards(fake_api):
    at = run_app()
    assert not at.exception
    at = ask(at, ANSWER["question"])
    assert not at.exception
    html = markdown(at)
    assert '<sup class="cq-marker"' in html and ">[1]</sup>" in html
    term = '<span class="cq-term">{}</span>'.format
    cited = f'The {term("maximum")} {term("infusion")} {term("rate")} was 40 mg/h.'
    assert f'<mark class="cq-cite">{cited}</mark>' in html
    assert "Ketamine dosing in CRPS" in html and "Methods · p. 2 · rank 1 · quoted in the answer" in html
    assert "0.910" not in html
    assert "Searched: <b>What was the maximum infusion rate?</b>" in html and ">Answered</b>" in html
    assert "&lt;b&gt;cold&lt;/b&gt;" in html and "<b>cold</b>" not in html  # passage text is escaped
    assert [s.value for s in at.subheader] == ["Sources", "Other retrieved passages"]
    assert any("not medical advice" in c.value for c in at.caption)


def test_uncertain_shows_a_plain_notice_and_highlights_the_best_sentences_without_an_answer_block(fake_api):
    at = ask(run_app(), UNCERTAIN["question"])
    assert not at.exception
    html = markdown(at)
    assert '<div class="cq-uncertain">Not sure: these passages may answer the question.' in html
    assert 'class="cq-answer"' not in html  # no bold answer block
    assert '<mark class="cq-cite">' in html and ">Uncertain</b>" in html
    assert "rank 1 · may answer it: check" in html
    assert [s.value for s in at.subheader] == ["Passages to check", "Other retrieved passages"]


def test_a_corrected_typo_is_shown_and_the_corrected_word_highlighted(fake_api):
    typed = "What was the maximum infusoin rate?"
    fake_api.answers[typed] = {**ANSWER, "question": typed, "query": "What was the maximum infusion rate?",
                               "corrections": [{"word": "infusoin", "correction": "infusion"}]}
    html = markdown(ask(run_app(), typed))
    assert "Searched for: <b>What was the maximum infusion rate?</b>" in html and "infusoin → infusion" in html
    assert '<span class="cq-term">infusion</span>' in html


def test_a_corrected_question_can_be_asked_again_exactly_as_typed(fake_api):
    typed = "What was the maximum infusoin rate?"
    fake_api.answers[typed] = {**ANSWER, "question": typed,
                               "corrections": [{"word": "infusoin", "correction": "infusion"}]}
    at = ask(run_app(), typed)
    assert "correct_spelling" not in fake_api.asked()[-1]
    at.button(key="as-typed").click().run()
    assert fake_api.asked()[-1] == {**fake_api.asked()[-1], "question": typed, "correct_spelling": False}


def test_refusal_shows_not_found_and_related_passages(fake_api):
    at = ask(run_app(), REFUSAL["question"])
    html = markdown(at)
    assert "Not found in the corpus" in html and "cq-refused" in html
    assert "Related passages" in [s.value for s in at.subheader]
    assert "Skin temperature" in html and '<mark class="cq-cite"' not in html


def test_example_button_asks_its_question(fake_api):
    at = run_app()
    at.button(key="example-0").click().run()
    assert fake_api.asked()[-1]["question"] == "What was the highest ketamine infusion rate?"
    assert at.text_input(key="question_box").value == "What was the highest ketamine infusion rate?"


def test_sidebar_choices_are_sent_to_the_api(fake_api):
    at = run_app()
    assert at.sidebar.selectbox(key="doc_id").options == ["All documents", "Ketamine dosing in CRPS",
                                                          "Skin temperature"]
    at.sidebar.radio(key="mode").set_value("bm25")
    at.sidebar.slider(key="k").set_value(12)
    at.sidebar.selectbox(key="doc_id").set_value("skin")
    ask(at, ANSWER["question"])
    assert fake_api.asked()[-1] == {"question": ANSWER["question"], "k": 12, "mode": "bm25", "doc_id": "skin"}


def test_expanding_a_card_loads_the_surrounding_passage(fake_api):
    at = ask(run_app(), ANSWER["question"])
    assert not [r for r in fake_api.requests if r[1].startswith("/passages/")]  # nothing fetched while closed
    assert at.expander[0].label == "Read the surrounding text"
    at.session_state["context-0-dosing#a1"] = True  # what opening the first card's expander sets
    at.run()
    fetched = [path for _, path, _, _ in fake_api.requests if path.startswith("/passages/")]
    assert fetched == ["/passages/dosing%23a1"]  # fetched once opened, with the '#' URL-encoded
    assert "Before that, the patient was assessed." in markdown(at)


def test_empty_question_is_not_sent(fake_api):
    at = ask(run_app(), "   ")
    assert not fake_api.asked() and any("Type a question" in w.value for w in at.warning)


def test_service_down_says_how_to_start_it(monkeypatch):
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("CRPS_QA_API_URL", f"http://127.0.0.1:{port}")
    at = run_app()
    assert not at.exception
    assert "not reachable" in at.error[0].value and f"127.0.0.1:{port}" in at.error[0].value
    assert "crps-qa serve" in at.code[0].value and "scripts/start.sh" in at.code[0].value
    assert not at.text_input  # no question box without a service


def test_service_without_index_says_how_to_build_one(fake_api):
    fake_api.ready = (503, {**READY, "ready": False, "build_id": None, "detail": "No index in index/."})
    at = run_app()
    assert "no index loaded" in at.warning[0].value and "crps-qa index" in at.code[0].value


def test_corpus_page_is_an_evidence_table(fake_api):
    at = run_app()
    at.switch_page("views/corpus.py").run()
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table["Paper"]) == ["Ketamine dosing in CRPS", "Skin temperature"]
    assert list(table["Design"]) == ["retrospective cohort", "case report"]
    assert list(table["n"]) == [40, 1] and list(table["Passages"]) == [12, 3]
    assert table["Dose"][0] == "10–40 mg/h" and table["Years"][0] == "2010–2015"
    assert "2 documents · 15 passages" in at.caption[0].value


def test_corpus_table_filters_to_case_reports_and_shows_where_facts_were_read(fake_api):
    at = run_app()
    at.switch_page("views/corpus.py").run()
    at.multiselect(key="corpus_design").select("case report").run()
    assert list(at.dataframe[0].value["Paper"]) == ["Skin temperature"]
    at.multiselect(key="corpus_design").unselect("case report").run()
    at.number_input(key="corpus_min_n").set_value(10).run()
    assert list(at.dataframe[0].value["Paper"]) == ["Ketamine dosing in CRPS"]
    at.selectbox(key="corpus_doc").set_value("dosing").run()
    facts = markdown(at)
    assert "**n**: 40 — “Forty patients were included” (chars 0–28)" in facts


def test_sidebar_evidence_filters_are_sent_to_the_api(fake_api):
    at = run_app()
    at.sidebar.multiselect(key="design").select("case report")
    at.sidebar.number_input(key="min_n").set_value(1)
    at.sidebar.selectbox(key="drug").set_value("ketamine")
    ask(at, ANSWER["question"])
    sent = fake_api.asked()[-1]
    assert (sent["design"], sent["min_n"], sent["drug"]) == (["case report"], 1, "ketamine")
    assert "year_from" not in sent and "year_to" not in sent  # not set: not sent


def test_source_cards_carry_the_papers_evidence_badge(fake_api):
    html = markdown(ask(run_app(), ANSWER["question"]))
    assert '<div class="cq-evidence">Retrospective cohort · n = 40 · IV ketamine 10–40 mg/h · 2010–2015</div>' in html
    assert '<div class="cq-evidence">Case report · n = 1</div>' in html


def test_an_answer_offers_its_citation_with_receipt_to_copy(fake_api):
    fake_api.answers[ANSWER["question"]] = {**ANSWER, "receipt": RECEIPT}
    at = ask(run_app(), ANSWER["question"])
    (box,) = [e for e in at.expander if e.label == "Copy citation with receipt"]
    text = box.code[0].value
    assert text.startswith(f"{QUOTE} [1]\n\n[1] Ketamine dosing in CRPS (dosing), Methods · p. 2")
    assert f"“{QUOTE}”" in text and '"build_id": "b1"' in text and "crps-qa replay" in text


def test_evaluation_page_charts_the_report(fake_api, tmp_path, monkeypatch):
    report = {"modes": ["bm25", "hybrid"], "questions": 40,
              "metrics": {"bm25": {"hit_rate@1": 0.5, "hit_rate@5": 0.8, "mrr@10": 0.6, "ndcg@10": 0.65},
                          "hybrid": {"hit_rate@1": 0.6, "hit_rate@5": 0.9, "mrr@10": 0.7, "ndcg@10": 0.75}},
              "curves": {"bm25": [0.5 + i / 40 for i in range(10)],
                         "hybrid": [0.6 + i / 40 for i in range(10)]}}
    (tmp_path / "report.json").write_text(json.dumps(report))
    monkeypatch.setenv("CRPS_UI_EVAL_DIR", str(tmp_path))
    at = run_app()
    at.switch_page("views/evaluation.py").run()
    assert not at.exception
    assert list(at.dataframe[0].value["mode"]) == ["bm25", "hybrid"]
    charts = at.get("vega_lite_chart")
    assert len(charts) == 2  # recall-at-k lines and headline bars
    assert "40 answerable questions" in at.caption[1].value


def test_evaluation_page_without_report_names_the_command(tmp_path, monkeypatch):
    monkeypatch.setenv("CRPS_UI_EVAL_DIR", str(tmp_path))
    monkeypatch.setenv("CRPS_QA_API_URL", "http://127.0.0.1:9")  # works with the service down
    at = run_app()
    at.switch_page("views/evaluation.py").run()
    assert not at.exception
    assert "crps-qa eval --report eval/report.md" in at.code[0].value


def test_evaluation_page_shows_markdown_report_and_chart_without_json(tmp_path, monkeypatch):
    (tmp_path / "report.md").write_text("# Retrieval evaluation\n\n![chart](report.png)\n")
    (tmp_path / "report.png").write_bytes(base64.b64decode(ONE_PIXEL_PNG))
    monkeypatch.setenv("CRPS_UI_EVAL_DIR", str(tmp_path))
    monkeypatch.setenv("CRPS_QA_API_URL", "http://127.0.0.1:9")
    at = run_app()
    at.switch_page("views/evaluation.py").run()
    assert not at.exception
    assert len(at.get("image")) == 1  # report.png stands in for the charts
    assert at.expander[0].label == "Full report (report.md)"
    assert "# Retrieval evaluation" in at.markdown[0].value and "![chart]" not in at.markdown[0].value
