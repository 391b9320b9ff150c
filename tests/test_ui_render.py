"""The UI's HTML helpers: spans from citations, highlighting, escaping, context trimming."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ui import render  # noqa: E402

TEXT = "Ketamine was started at 10 mg/h. The maximum infusion rate was 40 mg/h. Pain fell."
HIT = {"rank": 1, "score": 0.8123, "doc_id": "dosing", "title": "Dosing <study>", "section": "Methods",
       "page": 3, "char_start": 1000, "char_end": 1000 + len(TEXT), "chunk_id": "dosing#a", "text": TEXT}
QUOTE = "The maximum infusion rate was 40 mg/h."
CITATION = {"marker": 1, "doc_id": "dosing", "title": "Dosing", "section": "Methods", "page": 3,
            "char_start": 1000 + TEXT.index(QUOTE), "char_end": 1000 + TEXT.index(QUOTE) + len(QUOTE),
            "quote": QUOTE, "chunk_id": "dosing#a"}


def test_cited_span_is_the_citation_offset_minus_the_passage_offset():
    start = TEXT.index(QUOTE)  # 33 = 1033 - 1000
    assert render.cited_spans(HIT, [CITATION]) == [(start, start + len(QUOTE), 1)]


def test_citation_from_another_document_or_outside_the_passage_is_ignored():
    assert render.cited_spans(HIT, [{**CITATION, "doc_id": "skin"}]) == []
    outside = {**CITATION, "char_start": 5000, "char_end": 5030}
    assert render.cited_spans(HIT, [outside]) == []


def test_citation_reaching_past_an_overlapping_passage_is_clipped():
    shifted = {**HIT, "char_start": HIT["char_start"] + 40, "text": TEXT[40:]}  # starts mid-quote
    assert render.cited_spans(shifted, [CITATION]) == [(0, TEXT.index(QUOTE) + len(QUOTE) - 40, 1)]


def test_wrong_offsets_fall_back_to_finding_the_quote():
    wrong = {**CITATION, "char_start": 1001, "char_end": 1001 + len(QUOTE)}
    start = TEXT.index(QUOTE)
    assert render.cited_spans(HIT, [wrong]) == [(start, start + len(QUOTE), 1)]


def test_highlight_marks_the_cited_sentence_and_query_terms():
    start = TEXT.index(QUOTE)
    out = render.highlight(TEXT, [(start, start + len(QUOTE), 1)], ["infusion"])
    term = '<span class="cq-term">infusion</span>'
    assert f'<mark class="cq-cite">The maximum {term} rate was 40 mg/h.</mark>' in out
    assert out.startswith("Ketamine was started at 10 mg/h. <mark")


@pytest.mark.parametrize("nasty", ["<script>alert(1)</script>", "a & b", "cost $5 and $6", "x\n\ny"])
def test_highlight_escapes_html_and_never_starts_markdown(nasty):
    out = render.highlight(nasty, [(0, len(nasty), 1)])
    assert "<script>" not in out and "\n" not in out and "$" not in out


def test_query_terms_drop_stop_words_and_plural_s():
    assert render.query_terms("What were the infusion rates for patients?") == ["infusion", "rate"]


def test_answer_markers_become_superscripts_with_the_source_as_tooltip():
    out = render.answer_html({"answer": "The rate was 40 mg/h [1].", "citations": [CITATION]})
    assert '<sup class="cq-marker" title="Dosing — Methods · p. 3">[1]</sup>' in out


def test_card_shows_title_location_rank_and_verdict_not_the_score_and_escapes_the_title():
    out = render.card_html(HIT, citations=[CITATION])
    assert "Dosing &lt;study&gt;" in out and "Methods · p. 3 · rank 1 · quoted in the answer · dosing" in out
    assert "0.812" not in out  # the fused score stays in the JSON
    assert '<span class="cq-marker">[1]</span>' in out and 'class="cq-cite"' in out
    assert "rank 1 · may answer it: check" in render.card_html(HIT, citations=[CITATION], verdict="uncertain")
    assert "rank 1 · related reading" in render.card_html(HIT, verdict="not_found")
    assert "rank 1 · also retrieved" in render.card_html(HIT, verdict="answered")  # nothing quoted from it


@pytest.mark.parametrize(("answer", "expected"), [
    ({"verdict": "uncertain", "refused": False}, "uncertain"),
    ({"verdict": "not_found", "refused": True}, "not_found"),
    ({"refused": True}, "not_found"),  # an older service without verdicts
    ({"refused": False}, "answered"),
])
def test_verdict_is_read_from_the_answer(answer, expected):
    assert render.verdict(answer) == expected


def test_verdict_line_names_the_searched_question_and_the_verdict():
    out = render.verdict_html({"question": "dose <x>", "query": "dose <x>", "verdict": "uncertain"})
    assert "Searched: <b>dose &lt;x&gt;</b>" in out and '<b class="cq-verdict-uncertain">Uncertain</b>' in out


def test_uncertain_notice_is_plain_and_escaped():
    out = render.uncertain_html({"answer": "Not sure: check <these> sources."})
    assert out == '<div class="cq-uncertain">Not sure: check &lt;these&gt; sources.</div>'
    assert "cq-answer" not in out


def test_cited_passages_come_first_in_marker_order():
    other = {**HIT, "rank": 1, "chunk_id": "other", "doc_id": "skin", "text": "Skin warmed."}
    cited = {**HIT, "rank": 2}
    first, rest = render.order_sources({"passages": [other, cited], "citations": [CITATION]})
    assert [h["chunk_id"] for h in first] == ["dosing#a"] and [h["chunk_id"] for h in rest] == ["other"]


def test_a_quote_shared_by_overlapping_passages_is_sourced_once_from_its_own_passage():
    overlapping = {**HIT, "rank": 1, "chunk_id": "dosing#b", "score": 0.9}  # the same sentence, via overlap
    cited, rest = render.order_sources({"passages": [overlapping, HIT], "citations": [CITATION]})
    assert [h["chunk_id"] for h in cited] == ["dosing#a"] and [h["chunk_id"] for h in rest] == ["dosing#b"]


def test_citation_outside_the_passages_gets_a_card_of_its_own():
    elsewhere = {**CITATION, "marker": 2, "char_start": 5000, "char_end": 5000 + len(QUOTE),
                 "chunk_id": "dosing#z"}
    cited, rest = render.order_sources({"passages": [HIT], "citations": [CITATION, elsewhere]})
    assert [h["chunk_id"] for h in cited] == ["dosing#a", "dosing#z"] and rest == []
    assert cited[1]["text"] == QUOTE and cited[1]["score"] is None
    out = render.card_html(cited[1], citations=[elsewhere])
    assert "cited passage outside the top k" in out and f'<mark class="cq-cite">{QUOTE}</mark>' in out


def test_context_shows_neighbours_without_the_overlapping_sentence():
    previous = {"text": "Before. Ketamine was started at 10 mg/h.", "char_start": 960, "char_end": 1032}
    previous["char_start"] = previous["char_end"] - len(previous["text"])
    nxt = {"text": "Pain fell. After.", "char_start": HIT["char_end"] - len("Pain fell."), "char_end": 0}
    out = render.context_html({"passage": HIT, "previous": previous, "next": nxt}, citations=[CITATION])
    assert '<span class="cq-context">Before. </span>Ketamine' in out
    assert 'Pain fell.<span class="cq-context"> After.</span>' in out
    assert 'class="cq-cite"' in out


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("Not found in the corpus: no paper has it.", "<b>Not found in the corpus: no paper has it.</b>"),
        ("No <paper> answers this.", "<b>Not found in the corpus.</b> No &lt;paper&gt; answers this."),
    ],
)
def test_refusal_is_headed_not_found_exactly_once(message, expected):
    assert expected in render.refusal_html({"answer": message, "refused": True})


def test_refusal_names_the_words_no_paper_mentions_escaped():
    html = render.refusal_html({"answer": "Not found in the corpus: x.", "refused": True,
                                "missing_terms": ["lidocaine", "<b>"]})
    assert "No indexed paper mentions: lidocaine, &lt;b&gt;." in html
    assert "mentions" not in render.refusal_html({"answer": "Not found in the corpus: x.", "missing_terms": []})


def test_a_corrected_question_says_what_was_searched_for_escaped():
    answer = {"question": "Pain releif after KETAMIN <b>? Releif's",
              "query": "Pain relief after KETAMINE <b>? Relief's",
              "corrections": [{"word": "releif", "correction": "relief"},
                              {"word": "ketamin", "correction": "ketamine"}]}
    assert render.searched(answer) == "Pain relief after KETAMINE <b>? Relief's"
    html = render.corrections_html(answer)
    assert "Searched for: <b>Pain relief after KETAMINE &lt;b&gt;? Relief&#x27;s</b>" in html
    assert "releif → relief, ketamin → ketamine" in html


def test_nothing_is_said_when_nothing_was_corrected():
    assert render.corrections_html({"question": "pain relief", "corrections": []}) == ""
    assert render.searched({"question": "pain relief"}) == "pain relief"


def test_a_card_shows_the_evidence_badge_escaped_and_none_when_unknown():
    card = render.card_html(HIT, evidence="Case series · n = 33 <b>")
    assert '<div class="cq-evidence">Case series · n = 33 &lt;b&gt;</div>' in card
    assert "cq-evidence" not in render.card_html(HIT)


def test_citation_with_receipt_is_the_answer_its_sources_and_the_receipt():
    answer = {"answer": f"{QUOTE} [1]", "citations": [CITATION], "receipt": {"receipt_version": 1}}
    text = render.citation_with_receipt(answer)
    assert text.splitlines()[:3] == [f"{QUOTE} [1]", "",
                                     f"[1] Dosing (dosing), Methods · p. 3 · chars 1033–1071: “{QUOTE}”"]
    assert text.endswith('{\n  "receipt_version": 1\n}')
    assert "Receipt" not in render.citation_with_receipt({**answer, "receipt": None})


def test_location_shows_the_page_or_the_pages_a_pdf_passage_spans():
    assert render.location({"section": "Methods", "page": 4}) == "Methods · p. 4"
    assert render.location({"section": "Methods", "page": 4, "page_end": 5}) == "Methods · pp. 4–5"
    assert render.location({"section": None, "page": None}) == "no section"
