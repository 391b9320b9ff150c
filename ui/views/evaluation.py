"""Evaluation page: the latest retrieval report (eval/report.json, eval/report.md, eval/report.png).

It reads files, not the service, so it works while the service is down.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import streamlit as st
from ui import common

MAKE_REPORT = """crps-qa eval --report eval/report.md         # Markdown report and chart
crps-qa eval --json > eval/report.json      # metrics and curves"""


def load_json(path: Path) -> dict[str, Any] | None:
    """The ``crps-qa eval --json`` output, or None when missing or not a report."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("metrics"), dict) else None


def curves_table(report: dict[str, Any]) -> dict[str, list[float]]:
    """``{mode: [hit rate at k=1..10]}`` as chart columns, one per mode."""
    return {mode: [float(v) for v in values] for mode, values in (report.get("curves") or {}).items()}


def show_json(report: dict[str, Any], path: Path) -> None:
    metrics: dict[str, dict[str, float]] = report["metrics"]
    st.caption(f"{path} · {report.get('questions', '?')} answerable questions · "
               f"modes {', '.join(metrics)}")
    names = list(dict.fromkeys(name for values in metrics.values() for name in values))
    st.dataframe([{"mode": mode, **{n: round(values.get(n, 0.0), 3) for n in names}}
                  for mode, values in metrics.items()], hide_index=True, width="stretch")
    curves = curves_table(report)
    if curves:
        st.subheader("Answer recall at k by mode")
        ks = range(1, 1 + max(len(v) for v in curves.values()))
        st.line_chart({"k": list(ks), **curves}, x="k", y=list(curves), x_label="k (passages returned)",
                      y_label="questions with an answer in the top k")
    bars = [n for n in ("hit_rate@1", "hit_rate@5", "mrr@10", "ndcg@10") if n in names]
    if bars:
        st.subheader("Headline metrics")
        st.bar_chart({"metric": bars, **{m: [metrics[m].get(n, 0.0) for n in bars] for m in metrics}},
                     x="metric", y=list(metrics), stack=False)


def show_markdown(path: Path, chart: Path | None) -> None:
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"!\[[^\]]*\]\([^)]*\)\n?", "", text)  # a relative image link cannot load here
    with st.expander(f"Full report ({path.name})", expanded=False):
        st.markdown(text)
        if chart is not None:
            st.image(str(chart), caption=f"{chart.name} (from crps-qa eval --report)")


folder = common.eval_dir()
st.title("Evaluation")
st.caption("Retrieval quality on the hand-written questions in eval/questions.jsonl.")
report = load_json(folder / "report.json")
markdown, chart = folder / "report.md", folder / "report.png"
if report is None and not markdown.is_file() and not chart.is_file():
    st.info(f"No evaluation report in {folder}/ yet. Make one from the repository root:")
    st.code(MAKE_REPORT, language="bash")
    st.stop()
if report is not None:
    show_json(report, folder / "report.json")
elif chart.is_file():  # no JSON to chart from: the report's own picture instead
    st.image(str(chart), caption=f"{chart.name} (from crps-qa eval --report)")
if markdown.is_file():
    show_markdown(markdown, chart if chart.is_file() and report is not None else None)
