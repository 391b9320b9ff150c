"""Corpus page: the indexed papers as an evidence table (design, n, population, intervention,
follow-up, years), filterable here and sortable by any column, with the sentence behind each fact."""

from __future__ import annotations

from typing import Any

import streamlit as st
from ui import common

from crps_qa.ingest.facets import DESIGNS

COLUMNS = ("Paper", "Design", "n", "Population", "Drug", "Route", "Dose", "Duration", "Follow-up", "Years",
           "Passages")


def value(doc: dict[str, Any], name: str) -> Any:
    return ((doc.get("facets") or {}).get(name) or {}).get("value")


def row(doc: dict[str, Any]) -> dict[str, Any]:
    intervention = value(doc, "intervention") or {}
    population = value(doc, "population") or {}
    years = value(doc, "year")
    return {
        "Paper": doc.get("title") or doc["doc_id"], "Design": value(doc, "design"), "n": value(doc, "n"),
        "Population": render_value(population) or None,
        "Drug": intervention.get("drug"), "Route": intervention.get("route"), "Dose": intervention.get("dose"),
        "Duration": intervention.get("duration"), "Follow-up": value(doc, "follow_up"),
        "Years": None if not years else (str(years["from"]) if years["from"] == years["to"]
                                         else f"{years['from']}–{years['to']}"),
        "Passages": int(doc.get("passages") or 0),
    }


def keep(doc: dict[str, Any], designs: list[str], min_n: int, drug: str) -> bool:
    n = value(doc, "n")
    return ((not designs or value(doc, "design") in designs) and (not min_n or (n is not None and n >= min_n))
            and (not drug or drug.lower() in str((value(doc, "intervention") or {}).get("drug") or "").lower()))


def sources(doc: dict[str, Any], text: str) -> list[str]:
    """One line per facet: what it says and the words of the paper it was read from."""
    lines = []
    for name, facet in (doc.get("facets") or {}).items():
        if not facet:
            continue
        quote = " ".join(text[facet["char_start"] : facet["char_end"]].split())
        quote = "".join("\\" + c if c in "*_$`[]<>#" else c for c in quote)  # shown as written, not as Markdown
        where = f"“{quote}” (chars {facet['char_start']}–{facet['char_end']})" if quote else "set in catalog.json"
        lines.append(f"- **{name.replace('_', '-')}**: {render_value(facet['value'])} — {where}")
    return lines


def render_value(v: Any) -> str:
    if isinstance(v, dict) and set(v) == {"from", "to"}:
        return str(v["from"]) if v["from"] == v["to"] else f"{v['from']}–{v['to']}"
    if isinstance(v, dict):  # population or intervention: the attributes stated, in a readable order
        return ", ".join(f"CRPS {x}" if k == "crps_type" else str(x) for k, x in v.items())
    return str(v)


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
left, middle, right = st.columns([3, 1, 1])
designs = left.multiselect("Design", DESIGNS, key="corpus_design", placeholder="Any design")
min_n = middle.number_input("At least n", min_value=0, step=1, key="corpus_min_n")
drug = right.selectbox("Drug", ["", "ketamine", "S-ketamine"], key="corpus_drug", format_func=lambda d: d or "Any")
shown = [d for d in docs if keep(d, designs, int(min_n or 0), drug)]
st.dataframe([row(d) for d in shown], hide_index=True, column_order=COLUMNS,
             column_config={"Paper": st.column_config.TextColumn("Paper", width="medium"),
                            "n": st.column_config.NumberColumn("n", help="Number of patients"),
                            "Passages": st.column_config.NumberColumn("Passages", help="Indexed passages")})
st.caption(f"{len(shown)} of {len(docs)} papers · click a column header to sort · every fact is read from the "
           "paper's own text (or set in catalog.json): pick a paper to see the words behind each.")
titles = {d["doc_id"]: d.get("title") or d["doc_id"] for d in shown}
chosen = st.selectbox("Where each fact was read", ["", *titles], key="corpus_doc",
                      format_func=lambda d: titles.get(d, d) if d else "Choose a paper")
if chosen:
    doc = next(d for d in shown if d["doc_id"] == chosen)
    try:
        text = common.document(client.base_url, status.get("build_id"), chosen).get("text") or ""
    except common.ApiError as exc:
        st.caption(f"Could not load the paper: {exc.detail}")
    else:
        st.markdown("\n".join(sources(doc, text)) or "No evidence facets were found in this paper's text.")
st.caption("Add .txt, .md or .pdf files to corpus/ and run `crps-qa index` (or `bash scripts/start.sh`) "
           "to index them; the service picks up the new build.")
