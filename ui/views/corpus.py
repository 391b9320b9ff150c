"""Corpus page: the indexed documents with their catalog metadata and passage counts."""

from __future__ import annotations

import streamlit as st
from ui import common

client = common.get_client()
st.title("Corpus")
status = common.require_ready(client)
try:
    docs = common.documents(client.base_url, status.get("build_id"))
except common.ApiError as exc:
    st.error(f"Could not list the documents: {exc.detail}")
    st.stop()

st.caption(
    f"{len(docs)} documents · {sum(int(d.get('passages') or 0) for d in docs)} passages · "
    f"model {status.get('model')} · index build {status.get('build_id')} ({status.get('built_at')})"
)
for doc in docs:
    with st.container(border=True):
        text, count = st.columns([5, 1], vertical_alignment="center")
        text.markdown(f"**{doc.get('title') or doc['doc_id']}**")
        details = [doc.get("study_type"), str(doc["year"]) if doc.get("year") else None, doc.get("authors"),
                   doc.get("venue")]
        text.caption(" · ".join(d for d in details if d) + f" · `{doc['doc_id']}`")
        count.metric("Passages", doc.get("passages", 0))
st.caption("Add .txt, .md or .pdf files to corpus/ and run `crps-qa index` (or `bash scripts/start.sh`) "
           "to index them; the service picks up the new build.")
