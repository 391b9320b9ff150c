"""``GET /health`` (the process answers), ``GET /ready`` (an index is loaded) and ``POST /reload``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from crps_qa.api.deps import ServiceDep
from crps_qa.api.models import HealthOut, ReadyOut, ReloadOut
from crps_qa.api.service import Service

router = APIRouter(tags=["service"])


def readiness(service: Service) -> dict[str, Any]:
    pipeline = service.pipeline
    manifest = pipeline.data.manifest if pipeline else {}
    checked = service.checked_at
    return {
        "ready": pipeline is not None,
        "detail": str(service.error) if service.error else None,
        "index_dir": str(service.settings.index_dir),
        "model": service.settings.model,
        "build_id": manifest.get("build_id"),
        "built_at": manifest.get("built_at"),
        "documents": len(pipeline.data.documents) if pipeline else 0,
        "passages": len(pipeline.data.passages) if pipeline else 0,
        "warmed": service.warmed(),
        "checked_at": datetime.fromtimestamp(checked, UTC).isoformat(timespec="seconds") if checked else None,
    }


@router.get("/health", response_model=HealthOut)
async def health() -> dict[str, str]:
    """Liveness: 200 whenever the process answers, with or without an index."""
    return {"status": "ok"}


@router.get(
    "/ready",
    response_model=ReadyOut,
    responses={503: {"model": ReadyOut, "description": "No index loaded; `detail` says how to build one."}},
)
async def ready(service: ServiceDep) -> Any:
    """Readiness: the served index (build id and time), model, document and passage counts.
    503 while no index is loaded. `detail` also reports a failed reload while the old index keeps serving."""
    body = readiness(service)
    return body if body["ready"] else JSONResponse(body, status_code=503)


@router.post(
    "/reload",
    response_model=ReloadOut,
    responses={503: {"model": ReloadOut, "description": "Still no loadable index; `detail` says why."}},
)
def reload(service: ServiceDep) -> Any:
    """Load a newer index build now instead of waiting for the poller (e.g. right after `crps-qa index`).
    Requests in flight finish on the old index."""
    result = service.refresh()
    body = {**readiness(service), "reloaded": result.changed}
    return body if body["ready"] else JSONResponse(body, status_code=503)
