"""The FastAPI application: cited search (and answers) over the indexed corpus.

    app = create_app(Settings())                                  # what `crps-qa serve` runs
    app = create_app(settings, pipeline_factory=lambda s: Pipeline.open(s, embedder=FakeEmbedder()))

The model and index are loaded once, in ``lifespan``, and kept on ``app.state.service``. The service
starts without an index (``/health`` answers, ``/ready`` says 503 and how to build one). A background
task checks the index folder every ``poll_seconds`` and loads a new build made by ``crps-qa index``
without a restart; ``POST /reload`` does the same at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from starlette.concurrency import run_in_threadpool

from crps_qa import __version__
from crps_qa.api import errors, openapi
from crps_qa.api.routes import ask, documents, health, passages, search
from crps_qa.api.service import PipelineFactory, Service
from crps_qa.settings import Settings

log = logging.getLogger(__name__)

DESCRIPTION = """Offline, cited search over the CRPS / ketamine papers. Every hit names the document,
section, page and the exact character span of the cleaned text it came from.
Errors are JSON `{"detail": "..."}`: 422 bad input, 404 unknown document or passage, 503 no index."""


async def _poll(service: Service, seconds: float) -> None:
    while True:
        await asyncio.sleep(seconds)
        try:
            await run_in_threadpool(service.refresh)
        except Exception:  # noqa: BLE001 - the poller must outlive any one failed check
            log.exception("index check failed")


def create_app(
    settings: Settings | None = None,
    *,
    pipeline_factory: PipelineFactory | None = None,
    poll_seconds: float | None = 5.0,
) -> FastAPI:
    """Build the app. ``pipeline_factory(settings)`` opens the pipeline (default: the configured model
    and ``settings.index_dir``); ``poll_seconds=None`` turns the index poller off."""
    service = Service(settings or Settings(), pipeline_factory)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(service.refresh)  # model + index, once; a missing index is not fatal
        poller = asyncio.create_task(_poll(service, poll_seconds)) if poll_seconds else None
        try:
            yield
        finally:
            if poller is not None:
                poller.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await poller

    # FastAPIOffline: /docs and /redoc load Swagger UI and ReDoc from the package, not from a CDN.
    app = FastAPIOffline(title="crps-qa", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    app.state.service = service

    def schema() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = openapi.finish(FastAPI.openapi(app), service.settings)
        return app.openapi_schema

    app.openapi = schema  # type: ignore[method-assign]
    errors.install(app)
    for module in (search, ask, documents, passages, health):
        app.include_router(module.router)
    return app
