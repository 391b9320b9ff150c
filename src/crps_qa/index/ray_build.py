"""Build the index on a Ray cluster: the same index, embedded by many workers.

    report = build_on_ray(settings, address="auto")        # a cluster started with `ray start`
    report = build_on_ray(settings, address="local")       # a one-machine cluster, for trying it out

Passages, sentences and sentence token vectors are embedded by a Ray Data actor pool, each actor
loading the encoder once per pass. Rows come back in any order and are put back in passage order,
so the driver, running crps_qa.index.build.build (batches, staging and resume included) with this
module's embedder, assembles exactly what a local build assembles and publishes it atomically.
Reading and chunking run on the driver (the streaming build reads one batch at a time). A worker
that dies is restarted and its batch retried (``RETRIES`` times); a build that still fails raises
``IndexBuildError`` and the previous build stays current.

Ray is an optional extra (``pip install -e ".[ray]"``); every node needs crps-qa installed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from crps_qa.errors import ConfigError, IndexBuildError
from crps_qa.index.build import BuildReport, build
from crps_qa.index.embed import TokenVectors, embedder_for
from crps_qa.settings import Settings

INSTALL_HINT = 'pip install -e ".[ray]"'
RETRIES = 3  # restarts of a dead actor, and retries of a task or batch it was running
Progress = Callable[[str], None]


def import_ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401 - Ray Data is part of the extra
    except ImportError as exc:
        raise ConfigError(f"crps-qa index --ray needs Ray: {INSTALL_HINT}") from exc
    return ray


class EmbedActor:
    """A Ray Data actor: loads the encoder once, then embeds batches of {"row", "text"}.

    ``kind="vectors"`` returns {"row", "vector"}; ``kind="tokens"`` returns {"row", "tokens", "count"}
    (each text's token vectors as float32 bytes, ``count`` rows of the model's dimension).
    """

    def __init__(self, settings: Settings, kind: str, batch_size: int) -> None:
        self.embedder = embedder_for(settings)  # the model and backend (torch or ONNX) a local build uses
        self.kind, self.batch_size = kind, batch_size

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        texts = [str(t) for t in batch["text"]]
        if self.kind == "vectors":
            return {"row": batch["row"], "vector": self.embedder.encode(texts, batch_size=self.batch_size)}
        encoded = self.embedder.encode_tokens(texts, batch_size=self.batch_size)  # type: ignore[attr-defined]
        return {"row": batch["row"], "tokens": np.array([tv.vectors.tobytes() for tv in encoded], dtype=object),
                "count": np.array([len(tv.vectors) for tv in encoded], dtype=np.int64)}


class RayEmbedder:
    """The Embedder (and TokenEncoder) protocol on a Ray actor pool of ``actors`` encoders."""

    def __init__(self, settings: Settings, *, actors: int, batch_size: int, progress: Progress | None = None,
                 actor: type[EmbedActor] = EmbedActor) -> None:
        self.ray = import_ray()
        self.settings, self.name, self.backend = settings, settings.model, settings.embed_backend
        self.actors, self.batch_size = actors, batch_size
        self.actor, self.progress = actor, progress or (lambda _line: None)
        self._dimension: int | None = None

    @property
    def dimension(self) -> int:
        """The model's dimension, from the first texts embedded (or a one-text pass)."""
        if self._dimension is None:
            self._dimension = int(self._run(["probe"], "vectors")["vector"].shape[1])
        return self._dimension

    def _run(self, texts: Sequence[str], kind: str) -> dict[str, np.ndarray]:
        """Every text through the actor pool; the output columns in the order of ``texts``."""
        ray = self.ray
        per_batch = self.batch_size * 4
        pool = min(self.actors, -(-len(texts) // per_batch))  # no actor without a batch (ceil division)
        dataset = ray.data.from_items([{"row": i, "text": t} for i, t in enumerate(texts)])
        out = dataset.map_batches(
            self.actor, fn_constructor_kwargs={"settings": self.settings, "kind": kind, "batch_size": self.batch_size},
            batch_size=per_batch, batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=pool),
            max_restarts=RETRIES, max_task_retries=RETRIES,  # a dead actor is restarted, its batch retried
        )
        started, done, parts = time.perf_counter(), 0, []
        for batch in out.iter_batches(batch_size=None, batch_format="numpy"):
            parts.append(batch)
            done += len(batch["row"])
            if len(texts) > 1:
                rate = done / max(time.perf_counter() - started, 1e-9)
                what = "texts" if kind == "vectors" else "texts' token vectors"
                self.progress(f"embedded {done}/{len(texts)} {what} ({rate:.1f}/s, {rate / pool:.1f}/s per actor)")
        columns = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
        if "vector" in columns:
            self._dimension = int(columns["vector"].shape[1])
        order = np.argsort(columns["row"], kind="stable")  # Ray returns batches in any order
        if not np.array_equal(columns["row"][order], np.arange(len(texts))):
            raise IndexBuildError(f"the Ray pool returned {len(order)} rows for {len(texts)} texts; the previous "
                                  "index is still current; run it again")
        return {key: value[order] for key, value in columns.items()}

    def encode(self, texts: Sequence[str], *, batch_size: int = 32, progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.asarray(self._run(texts, "vectors")["vector"], dtype=np.float32)

    def encode_tokens(self, texts: Sequence[str], *, batch_size: int = 32) -> list[TokenVectors]:
        if not texts:
            return []
        out = self._run(texts, "tokens")
        return [TokenVectors((), np.frombuffer(blob, dtype=np.float32).reshape(int(n), self.dimension))
                for blob, n in zip(out["tokens"], out["count"], strict=True)]

    def encode_with_tokens(self, texts: Sequence[str]) -> tuple[np.ndarray, list[TokenVectors]]:
        return self.encode(texts), self.encode_tokens(texts)  # two passes: the pool has no combined one

    def word_pieces(self, texts: Sequence[str]) -> list[list[str]]:
        task = self.ray.remote(max_retries=RETRIES)(_word_pieces)
        return self.ray.get(task.remote(self.settings, list(texts)))


def _word_pieces(settings: Settings, texts: list[str]) -> list[list[str]]:
    return embedder_for(settings).word_pieces(texts)  # type: ignore[attr-defined]


def build_on_ray(settings: Settings, *, address: str = "auto", actors: int | None = None, rebuild: bool = False,
                 progress: Progress | None = None, actor: type[EmbedActor] = EmbedActor) -> BuildReport:
    """``crps_qa.index.build.build`` on a Ray cluster at ``address`` ("auto": the cluster this
    machine joined with ``ray start``; "local": a new one-machine cluster; or HOST:PORT).
    ``actors`` encoders embed (default: one per CPU of the cluster)."""
    ray = import_ray()
    say = progress or (lambda _line: None)
    started_here = not ray.is_initialized()
    if started_here:
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        try:
            if address == "local":
                ray.init(address="local", include_dashboard=False, log_to_driver=False)
            else:
                ray.init(address=address, log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise ConfigError(f"Could not connect to the Ray cluster at {address!r} ({exc}). Start one with "
                              "`ray start --head`, or pass --ray local for a one-machine cluster.") from exc
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # this module reports documents and passages per second itself
    context.print_on_execution_start = False
    try:
        pool = actors or max(1, int(ray.cluster_resources().get("CPU", 1)))
        say(f"ray: {len(ray.nodes())} node(s), {pool} embedding actor(s)")
        embedder = RayEmbedder(settings, actors=pool, batch_size=settings.batch_size, progress=say,
                               actor=actor)
        return build(settings, embedder, rebuild=rebuild, progress=progress is not None)
    except ray.exceptions.RayError as exc:
        raise IndexBuildError(
            f"The Ray build failed ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
            "the previous index is still current. Check the cluster (`ray status`) and run it again."
        ) from exc
    finally:
        if started_here:
            ray.shutdown()
