"""What the HTTP service holds between requests: the settings and the current :class:`Pipeline`.

    service = Service(settings, open_pipeline)    # open_pipeline(settings) -> Pipeline
    service.refresh()                             # load the index, or a newer build of it
    pipeline = service.require()                  # the pipeline, or the error saying why there is none

The service starts even when there is no index yet: ``error`` then says how to build one, requests
that need the index get 503, and every ``refresh`` (the poller's, or ``POST /reload``'s) tries again.
A newer build replaces the pipeline's retriever as a whole, so requests in flight finish on the old one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from crps_qa.errors import CrpsQaError, IndexMissingError
from crps_qa.pipeline import Pipeline
from crps_qa.receipt import model_fingerprint
from crps_qa.settings import Settings

log = logging.getLogger(__name__)

PipelineFactory = Callable[[Settings], Pipeline]


def default_factory() -> PipelineFactory:
    """Open the pipeline with the configured model, loading the model only once per process."""
    embedders: dict[str, object] = {}

    def open_pipeline(settings: Settings) -> Pipeline:
        from crps_qa.index import embed

        Pipeline.preflight(settings)  # no index yet: say so without spending seconds on the model
        key = f"{settings.model}|{settings.embed_backend}"
        if key not in embedders:
            embedders[key] = embed.embedder_for(settings)
        return Pipeline.open(settings, embedder=embedders[key])  # type: ignore[arg-type]

    return open_pipeline


@dataclass(frozen=True)
class Refresh:
    changed: bool  # a pipeline was opened or a newer build loaded
    error: CrpsQaError | None  # why the last attempt failed (the previous index, if any, still serves)


class Service:
    def __init__(self, settings: Settings, factory: PipelineFactory | None = None) -> None:
        self.settings = settings
        self.factory = factory or default_factory()
        self.pipeline: Pipeline | None = None
        self.error: CrpsQaError | None = None  # why the last open or reload failed
        self.checked_at: float | None = None  # time.time() of the last refresh
        self.warmed_build: str | None = None  # build id whose sentence token vectors are all encoded
        self._lock = threading.Lock()  # one refresh at a time (poller and POST /reload)

    def refresh(self) -> Refresh:
        """Open the pipeline if there is none, else load a newer build if one was made."""
        with self._lock:
            self.checked_at = time.time()
            try:
                if self.pipeline is None:
                    self.pipeline = self.factory(self.settings)
                    changed = True
                else:
                    changed = self.pipeline.reload_if_changed()
            except CrpsQaError as exc:
                if str(exc) != str(self.error):
                    log.warning("index not loaded: %s", exc)
                self.error = exc
                return Refresh(False, exc)
            self.error = None
            if changed:
                log.info(
                    "serving index build %s from %s", self.pipeline.data.build_id, self.settings.index_dir
                )
                # term statistics and sentence token vectors, in the background: requests are served
                # meanwhile (they encode what they need themselves, into the same cache)
                threading.Thread(target=self._warm, args=(self.pipeline,), name="crps-qa-warm", daemon=True).start()
            return Refresh(changed, None)

    def warmed(self) -> bool:
        """True once the served build's sentence token vectors are all encoded (see Pipeline.warm)."""
        pipeline = self.pipeline
        return pipeline is not None and self.warmed_build == pipeline.data.build_id

    def _warm(self, pipeline: Pipeline) -> None:
        started = time.perf_counter()
        build = pipeline.data.build_id
        try:
            count = pipeline.warm()
            model_fingerprint(pipeline)  # hashes the model's weight files once, for every answer's receipt
        except Exception:  # noqa: BLE001 - a failed warm-up only costs the first requests time
            log.exception("warm-up failed")
            return
        self.warmed_build = build
        log.info("warm-up done in %.1f s: %d sentences encoded (the rest are stored in the index)",
                 time.perf_counter() - started, count)

    def require(self) -> Pipeline:
        """The pipeline, or raise the error that explains why there is none (mapped to 503)."""
        pipeline = self.pipeline
        if pipeline is None:
            error = self.error or IndexMissingError("The index is still loading; try again in a moment.")
            raise type(error)(str(error))  # a fresh instance: concurrent requests must not share a traceback
        return pipeline
