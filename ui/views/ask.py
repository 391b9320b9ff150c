"""Ask page: a question, the extractive answer with [n] markers, and its sources as cards."""

from __future__ import annotations

from typing import Any

import streamlit as st
from ui import common, render

EXAMPLES = (
    "What was the highest ketamine infusion rate?",
    "How long did pain relief last after the infusions?",
    "What side effects did patients have?",
    "How does ketamine work in CRPS?",
)


def use_example(question: str) -> None:
    st.session_state["question_box"] = question
    st.session_state["question"] = question
    st.session_state["as_typed"] = False


def search_as_typed() -> None:
    """Ask the same question again without the service's typo corrections."""
    st.session_state["as_typed"] = True


def source_card(hit: dict[str, Any], answer: dict[str, Any], terms: list[str], base_url: str,
                build_id: str | None, slot: int) -> None:
    citations = answer.get("citations", [])
    evidence = evidence_badges(base_url, build_id).get(hit.get("doc_id", ""), "")
    card = render.card_html(hit, citations=citations, terms=terms, evidence=evidence, verdict=render.verdict(answer))
    st.markdown(card, unsafe_allow_html=True)
    box = st.expander("Read the surrounding text", key=f"context-{slot}-{hit['chunk_id']}", on_change="rerun")
    with box:
        if not box.open:  # fetched only once opened: k cards must not cost k requests per rerun
            return
        try:
            body = common.passage(base_url, build_id, hit["chunk_id"])
        except common.ApiError as exc:
            st.caption(f"Could not load the passage: {exc.detail}")
            return
        st.markdown(render.context_html(body, citations=citations, terms=terms), unsafe_allow_html=True)


def evidence_badges(base_url: str, build_id: str | None) -> dict[str, str]:
    """Each paper's evidence badge ("Case series · n = 33 · ..."); {} if the documents cannot be listed."""
    try:
        return common.badges(common.documents(base_url, build_id))
    except common.ApiError:
        return {}


def show_answer(answer: dict[str, Any], base_url: str, build_id: str | None) -> None:
    terms = render.query_terms(render.searched(answer))
    passages = answer.get("passages", [])
    if answer.get("corrections"):
        st.markdown(render.corrections_html(answer), unsafe_allow_html=True)
        st.button(f"Search for “{answer.get('question', '')}” instead", key="as-typed", on_click=search_as_typed,
                  type="tertiary")
    elif st.session_state.get("as_typed"):
        st.caption("Searched exactly as typed, without spelling corrections.")
    st.markdown(render.verdict_html(answer), unsafe_allow_html=True)
    verdict = render.verdict(answer)
    if verdict == "not_found":
        st.markdown(render.refusal_html(answer), unsafe_allow_html=True)
        if passages:
            st.subheader("Related passages")
            st.caption("These came closest to the question but do not answer it.")
        for slot, hit in enumerate(passages):
            source_card(hit, answer, terms, base_url, build_id, slot)
        return
    if verdict == "uncertain":  # no answer block: a plain notice, the best sentences highlighted below
        st.markdown(render.uncertain_html(answer), unsafe_allow_html=True)
    else:
        st.markdown(render.answer_html(answer), unsafe_allow_html=True)
    st.caption(f"confidence {float(answer.get('confidence', 0.0)):.2f} · "
               f"{len(answer.get('citations', []))} {'highlighted' if verdict == 'uncertain' else 'cited'} "
               "sentence(s) · hover a marker to see its source")
    if answer.get("receipt"):
        with st.expander("Copy citation with receipt"):
            st.caption("The answer, its sources and a receipt; `crps-qa replay RECEIPT.json` later shows whether "
                       "the same papers, model and settings still give the same answer. Copy with the icon.")
            st.code(render.citation_with_receipt(answer), language="text")
    cited, rest = render.order_sources(answer)
    st.subheader("Passages to check" if verdict == "uncertain" else "Sources")
    for slot, hit in enumerate(cited):
        source_card(hit, answer, terms, base_url, build_id, slot)
    if rest:
        st.subheader("Other retrieved passages")
        for slot, hit in enumerate(rest, start=len(cited)):
            source_card(hit, answer, terms, base_url, build_id, slot)


client = common.get_client()
st.markdown(render.CSS, unsafe_allow_html=True)
st.title("Ask the CRPS / ketamine papers")
st.caption(common.DISCLAIMER)
status = common.require_ready(client)

columns = st.columns(2)
for i, example in enumerate(EXAMPLES):
    columns[i % 2].button(example, key=f"example-{i}", on_click=use_example, args=(example,), width="stretch")

with st.form("ask-form", border=False):
    st.text_input("Question", key="question_box", placeholder="e.g. What dose of ketamine was used?",
                  max_chars=1000)
    if st.form_submit_button("Ask", type="primary"):
        st.session_state["question"] = (st.session_state.get("question_box") or "").strip()
        st.session_state["as_typed"] = False
        if not st.session_state["question"]:
            st.warning("Type a question first.")

question = st.session_state.get("question")
if question:
    mode, k, doc_id = (st.session_state.get(key) for key in ("mode", "k", "doc_id"))
    try:
        with st.spinner("Searching the papers…"):
            answer = common.ask(client.base_url, status.get("build_id"), question, k, mode, doc_id or None,
                                bool(st.session_state.get("as_typed")), common.evidence_filters(st.session_state))
    except common.ServiceDownError as exc:
        st.error(f"The service stopped answering: {exc.detail}")
        st.code(common.START_COMMANDS, language="bash")
    except common.ApiError as exc:
        (st.warning if exc.status in (404, 422) else st.error)(exc.detail)
    else:
        show_answer(answer, client.base_url, status.get("build_id"))
