"""Streamlit front end of crps-qa, a client of the HTTP service (``crps-qa serve``).

    streamlit run ui/app.py          # talks to CRPS_QA_API_URL (default http://127.0.0.1:8000)

The sidebar's retrieval choices live in ``st.session_state`` under ``mode``, ``k`` and ``doc_id``,
and its evidence filters under ``design``, ``min_n``, ``year_from``, ``year_to`` and ``drug``;
the pages in ``ui/views/`` read them from there.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `streamlit run ui/app.py` only puts ui/ on the path
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from crps_qa.ingest.facets import DESIGNS  # noqa: E402
from crps_qa.settings import MODES, Settings  # noqa: E402
from ui import common  # noqa: E402

MODE_HELP = {
    "hybrid": "hybrid — meaning and keywords fused",
    "dense": "dense — meaning (embeddings)",
    "bm25": "bm25 — exact keywords",
}


def sidebar(status: dict | None, problem: str | None, base_url: str) -> None:
    with st.sidebar:
        st.header("Retrieval")
        st.radio("Mode", MODES, key="mode", format_func=MODE_HELP.get)
        st.slider("Passages", min_value=1, max_value=20, value=min(Settings().default_k, 20), key="k",
                  help="How many passages to retrieve and show (1–20).")
        docs = common.documents_or_empty(base_url, status)
        titles = {d["doc_id"]: d.get("title") or d["doc_id"] for d in docs}
        if st.session_state.get("doc_id") not in (None, "", *titles):
            st.session_state["doc_id"] = ""  # a document that left the index
        st.selectbox("Document", ["", *titles], key="doc_id",
                     format_func=lambda d: titles.get(d, d) if d else "All documents")
        evidence_filters()
        st.divider()
        if status is None:
            st.caption(f":red[Service unreachable] at {base_url}")
        elif not status.get("ready"):
            st.caption(f":orange[Service up, no index] at {base_url}")
        else:
            st.caption(f":green[Connected] to {base_url} · {status.get('documents')} documents, "
                       f"{status.get('passages')} passages · build {status.get('build_id')}")


def evidence_filters() -> None:
    """Answer only from papers of some designs, sizes, years or drugs (read from each paper's text)."""
    st.header("Evidence")
    st.multiselect("Study design", DESIGNS, key="design", placeholder="Any design",
                   help="Only papers of these designs, as each paper states it.")
    st.number_input("At least n patients", min_value=0, step=1, key="min_n",
                    help="0 = any size. Papers that state no number of patients (reviews) are left out otherwise.")
    years = st.columns(2)
    years[0].number_input("From year", min_value=1900, max_value=2100, value=None, step=1, key="year_from")
    years[1].number_input("To year", min_value=1900, max_value=2100, value=None, step=1, key="year_to",
                          help="The years the patients were treated, else the paper's own date.")
    st.selectbox("Drug", ["", "ketamine", "S-ketamine"], key="drug",
                 format_func=lambda d: d or "Any drug", help="ketamine also finds S-ketamine papers.")


st.set_page_config(page_title="CRPS · ketamine papers", page_icon=":material/menu_book:")
page = st.navigation([
    st.Page("views/ask.py", title="Ask", icon=":material/question_answer:", default=True),
    st.Page("views/corpus.py", title="Corpus", icon=":material/library_books:"),
    st.Page("views/evaluation.py", title="Evaluation", icon=":material/monitoring:"),
])
client = common.get_client()
sidebar(*common.service_status(client), client.base_url)
page.run()
