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
st.dataframe(
    [
        {
            "Title": d.get("title"),
            "Study type": d.get("study_type") or "—",
            "Year": str(d["year"]) if d.get("year") else "—",
            "Authors": d.get("authors") or "—",
            "Venue": d.get("venue") or "—",
            "Passages": d.get("passages"),
            "Document id": d.get("doc_id"),
        }
        for d in docs
    ],
    hide_index=True,
    width="stretch",
)
st.caption("Add .txt, .md or .pdf files to corpus/ and run `crps-qa index` (or `bash scripts/start.sh`) "
           "to index them; the service picks up the new build.")
