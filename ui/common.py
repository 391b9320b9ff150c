"""What every page shares: the cached API client, the service check and cached API reads.

No module globals hold state: the client lives in ``st.cache_resource`` (one per API URL) and
answers in ``st.cache_data`` keyed by the index build, so a rebuilt index is never served stale.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import streamlit as st

from crps_qa.ingest.facets import badge
from crps_qa.settings import Settings
from ui.client import ApiClient, ApiError, ServiceDownError

ROOT = Path(__file__).resolve().parent.parent
EVAL_DIR_ENV = "CRPS_UI_EVAL_DIR"  # where the Evaluation page looks for report.json/.md/.png
DISCLAIMER = (
    "Answers are sentences quoted from five research papers on complex regional pain syndrome (CRPS) "
    "and ketamine. They are information from the literature, **not medical advice**: talk to a "
    "clinician about any treatment."
)
START_COMMANDS = """bash scripts/start.sh     # index if needed, then start the service and this UI
.venv/bin/crps-qa serve --host 127.0.0.1 --port 8000     # or only the service"""


def api_url() -> str:
    return Settings().api_url


@st.cache_resource(show_spinner=False)
def _client(base_url: str) -> ApiClient:
    return ApiClient(base_url)


def get_client() -> ApiClient:
    """The client for the configured ``api_url`` (``CRPS_QA_API_URL``), shared by all sessions."""
    return _client(api_url())


@st.cache_data(ttl=2, show_spinner=False)
def _ready(base_url: str) -> dict[str, Any]:
    return _client(base_url).ready()  # cached for 2 s: the sidebar and the page both ask per rerun


def service_status(client: ApiClient) -> tuple[dict[str, Any] | None, str | None]:
    """``(GET /ready body, None)`` or ``(None, what is wrong)``; never raises."""
    try:
        return _ready(client.base_url), None
    except ServiceDownError as exc:
        return None, exc.detail
    except ApiError as exc:
        return None, f"GET /ready failed with HTTP {exc.status}: {exc.detail}"


def require_ready(client: ApiClient) -> dict[str, Any]:
    """Stop the page with an explanation unless the service answers and has an index loaded."""
    status, problem = service_status(client)
    if status is None:
        st.error(f"The crps-qa service is not reachable at **{client.base_url}**.")
        st.markdown("Start it from the repository root (or set `CRPS_QA_API_URL` to where it runs):")
        st.code(START_COMMANDS, language="bash")
        st.caption(f"Details: {problem}")
        st.stop()
    if not status.get("ready"):
        st.warning(f"The service at **{client.base_url}** is running but has no index loaded.")
        if status.get("detail"):
            st.markdown(str(status["detail"]))
        st.code(".venv/bin/crps-qa index      # build index/ from corpus/, then restart the service\n"
                "bash scripts/start.sh        # or let the start script do both", language="bash")
        st.stop()
    return status


FILTER_KEYS = ("design", "min_n", "year_from", "year_to", "drug")  # session_state keys of the sidebar


def evidence_filters(state: Any) -> str:
    """The sidebar's evidence filters as the JSON the service takes (a string, so answers cache on
    it): only those set; "{}" when none is."""
    chosen = {key: state.get(key) for key in FILTER_KEYS}
    chosen["design"] = list(chosen["design"] or []) or None
    chosen["min_n"] = chosen["min_n"] or None  # 0 = any size
    chosen["drug"] = chosen["drug"] or None
    return json.dumps({key: value for key, value in chosen.items() if value is not None}, sort_keys=True)


@st.cache_data(ttl=600, max_entries=128, show_spinner=False)
def ask(base_url: str, build_id: str | None, question: str, k: int, mode: str, doc_id: str | None,
        as_typed: bool = False, filters: str = "{}") -> dict:
    """``POST /ask``, cached per index build so reruns (expanding a card) do not ask again.
    ``as_typed``: do not let the service correct typos; ``filters``: see :func:`evidence_filters`."""
    return _client(base_url).ask(question, k=k, mode=mode, doc_id=doc_id, correct_spelling=False if as_typed else None,
                                 filters=json.loads(filters))


@st.cache_data(ttl=600, max_entries=64, show_spinner=False)
def document(base_url: str, build_id: str | None, doc_id: str) -> dict:
    """One document with its cleaned text (to quote where each facet was read)."""
    return _client(base_url).document(doc_id, include_text=True)


def badges(docs: list[dict]) -> dict[str, str]:
    """The one-line evidence badge of each document, by doc_id ("" when its facets are unknown)."""
    return {d["doc_id"]: badge(d.get("facets")) for d in docs}


@st.cache_data(ttl=600, max_entries=512, show_spinner=False)
def passage(base_url: str, build_id: str | None, chunk_id: str) -> dict:
    return _client(base_url).passage(chunk_id)


@st.cache_data(ttl=60, show_spinner=False)
def documents(base_url: str, build_id: str | None) -> list[dict]:
    return _client(base_url).documents()


def documents_or_empty(base_url: str, status: dict[str, Any] | None) -> list[dict]:
    """The indexed documents, or [] while the service is down or not ready (for the sidebar)."""
    if not status or not status.get("ready"):
        return []
    try:
        return documents(base_url, status.get("build_id"))
    except ApiError:
        return []


def eval_dir() -> Path:
    return Path(os.environ.get(EVAL_DIR_ENV) or ROOT / "eval")
