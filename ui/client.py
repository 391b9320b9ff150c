"""The only place the UI talks HTTP. Plain JSON dicts in and out; errors become ``ApiError``.

    client = ApiClient("http://127.0.0.1:8000")
    client.ask("What infusion rate was used?", k=5, mode="hybrid")

Tests pass ``transport=httpx.MockTransport(handler)`` instead of patching.

    ApiError              any failed call; ``status`` and ``detail`` from the service
    └── ServiceDownError       no answer at all (connection refused, timeout, not JSON)
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx


class ApiError(Exception):
    def __init__(self, detail: str, *, status: int | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status


class ServiceDownError(ApiError):
    """The service did not answer (not started, wrong URL, or timed out)."""


class ApiClient:
    def __init__(
        self, base_url: str, *, transport: httpx.BaseTransport | None = None, timeout: float = 60.0
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, transport=transport, timeout=timeout)

    def ready(self) -> dict[str, Any]:
        """``GET /ready``; a 503 (no index yet) is returned as ``{"ready": False, "detail": ...}``."""
        try:
            response = self._http.get("/ready")
        except httpx.HTTPError as exc:
            raise ServiceDownError(f"cannot reach {self.base_url} ({exc.__class__.__name__}: {exc})") from exc
        if response.status_code == 503:  # the body may be the full ReadyOut or just {"detail": ...}
            try:
                body = response.json()
            except ValueError:
                body = None
            if isinstance(body, dict) and "ready" in body:
                return body
            return {"ready": False, "detail": _detail(response)}
        return self._json(response)

    def documents(self) -> list[dict[str, Any]]:
        body = self._call("GET", "/documents")
        return body["documents"] if isinstance(body, dict) and "documents" in body else body

    def document(self, doc_id: str, *, include_text: bool = False) -> dict[str, Any]:
        """``GET /documents/{doc_id}``: metadata, facets, sections (and the cleaned text if asked)."""
        return self._call("GET", "/documents/" + quote(doc_id, safe=""), params={"include_text": include_text})

    def ask(self, question: str, *, k: int | None = None, mode: str | None = None,
            doc_id: str | None = None, correct_spelling: bool | None = None,
            filters: dict[str, Any] | None = None) -> dict[str, Any]:
        """``POST /ask``; ``filters`` are evidence filters (design, min_n, year_from, year_to, drug)."""
        payload = {"question": question, "k": k, "mode": mode, "doc_id": doc_id, "correct_spelling": correct_spelling,
                   **(filters or {})}
        return self._call("POST", "/ask", json={key: v for key, v in payload.items() if v is not None})

    def search(self, q: str, *, k: int | None = None, mode: str | None = None,
               doc_id: str | None = None, filters: dict[str, Any] | None = None) -> dict[str, Any]:
        params = {"q": q, "k": k, "mode": mode, "doc_id": doc_id, **(filters or {})}
        return self._call("GET", "/search", params={key: v for key, v in params.items() if v is not None})

    def passage(self, chunk_id: str) -> dict[str, Any]:
        """``GET /passages/{chunk_id}``: the passage with its neighbours (chunk ids hold '#', so quote it)."""
        return self._call("GET", "/passages/" + quote(chunk_id, safe=""))

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ServiceDownError(f"cannot reach {self.base_url} ({exc.__class__.__name__}: {exc})") from exc
        return self._json(response)

    def _json(self, response: httpx.Response) -> Any:
        if response.is_error:
            raise ApiError(_detail(response), status=response.status_code)
        try:
            return response.json()
        except ValueError as exc:
            raise ServiceDownError(f"{self.base_url} sent no JSON; is it the crps-qa service?") from exc


def _detail(response: httpx.Response) -> str:
    """The service's ``{"detail": ...}`` message (FastAPI's 422 list is flattened to one line)."""
    try:
        detail = response.json().get("detail", response.text)
    except (ValueError, AttributeError):
        return f"HTTP {response.status_code}: {response.text[:200]}"
    if isinstance(detail, list):  # pydantic validation errors
        detail = "; ".join(f"{'.'.join(map(str, e.get('loc', [])[1:]))}: {e.get('msg')}" for e in detail)
    return str(detail)
