"""Build the index on a Ray cluster: the same index, read and embedded by many workers.

    report = build_on_ray(settings, address="auto")        # a cluster started with `ray start`
    report = build_on_ray(settings, address="local")       # a one-machine cluster, for trying it out

The driver runs crps_qa.index.build.build (batches, staging and resume included) with two Ray parts:
- a ``DocumentSource`` whose tasks read, clean and chunk one file each (a window of them ahead of the
  batch being embedded); results are taken in corpus order, so the batches are a local build's;
- an embedder on a pool of long-lived actors (default: one per node, running the encoder on the
  node's cores as a local build would), created once per build, each loading the encoder once and
  serving every pass (passages, sentences, token vectors). A text list is cut into exactly the
  batches the encoder would make of it in one process (its own length order), one batch per actor
  call, and the rows are put back in input order: the vectors are then bit for bit a local
  build's (on nodes with as many threads: small batches' sums depend on the thread count; an actor
  runs ``embed_threads``, 0: every core), and so is everything trained on them (the token codebook).
A worker that dies is restarted and its call retried (``RETRIES`` times); a build that still fails
raises ``IndexBuildError`` and the previous build stays current.

Ray is an optional extra (``pip install -e ".[ray]"``); every node needs crps-qa installed.
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from crps_qa.errors import ConfigError, IndexBuildError, IngestError
from crps_qa.index.batches import PreparedDocument, prepare_document
from crps_qa.index.build import BuildReport, build
from crps_qa.index.embed import TokenVectors, backend_of, embedder_for
from crps_qa.index.onnx_export import cpu_threads
from crps_qa.ingest.read import corpus_files, doc_id_for, read_document
from crps_qa.settings import Settings
from crps_qa.types import SkippedFile

log = logging.getLogger(__name__)

INSTALL_HINT = 'pip install -e ".[ray]"'
RETRIES = 3  # restarts of a dead actor, and retries of a task or call it was running
IN_FLIGHT = 2  # calls queued per actor: the next batch is there when one finishes
ACTOR_CPUS, READ_CPUS = 0.75, 0.25  # Ray's accounting: room for a reading task beside an encoder
Progress = Callable[[str], None]


def import_ray() -> Any:
    try:
        import ray
        import ray.util.scheduling_strategies  # noqa: F401 - an actor per node
    except ImportError as exc:
        raise ConfigError(f"crps-qa index --ray needs Ray: {INSTALL_HINT}") from exc
    return ray


def encoding_order(embedder: Any, texts: Sequence[str]) -> list[int]:
    """The order in which ``embedder.encode(texts)`` runs the texts; cut into runs of its batch
    size, these are its batches. Padding (torch, float32 ONNX) depends on which texts share a batch,
    so a pool that runs the same batches returns the same bits (the int8 model runs each text alone)."""
    model = getattr(embedder, "_model", None)
    if model is not None:  # sentence-transformers: longest first, as SentenceTransformer.encode sorts
        order = np.argsort([-model._input_length(text) for text in texts])
        if model._can_flatten_inputs():
            order = model._interleave_sorted_indices(order)
        return [int(i) for i in order]
    tokenizer = getattr(embedder, "_tokenizer", None)
    if tokenizer is not None:  # ONNX: fewest word pieces first, as OnnxEmbedder._forward sorts
        lengths = [len(e.ids) for e in tokenizer.encode_batch(list(texts))]
        return sorted(range(len(texts)), key=lengths.__getitem__)
    return list(range(len(texts)))  # an encoder that does not sort (a test fake)


class EmbedActor:
    """A Ray actor holding one encoder (loaded once, in ``__init__``) for a whole build."""

    def __init__(self, settings: Settings) -> None:
        self.embedder = embedder_for(settings)  # the model and backend (torch or ONNX) a local build uses
        if backend_of(self.embedder, settings.embed_backend) == "torch":
            import torch  # Ray runs an actor on one thread per CPU it reserved; a local build on every core

            torch.set_num_threads(cpu_threads(settings.embed_threads))

    def dimension(self) -> int:
        return int(self.embedder.dimension)

    def order(self, texts: list[str]) -> list[int]:
        return encoding_order(self.embedder, texts)

    def embed(self, kind: str, texts: list[str], batch_size: int) -> Any:
        """``kind="vectors"``: a (len(texts), dimension) float32 array; ``"tokens"``: a list of each
        text's (pieces, dimension) token vectors; ``"both"``: a list of each text's (vector, token
        vectors), from one pass."""
        if kind == "vectors":
            return self.embedder.encode(texts, batch_size=batch_size)
        if kind == "both":
            vectors, tokens = self.embedder.encode_with_tokens(texts, batch_size=batch_size)  # type: ignore[attr-defined]
            return [(vector, tv.vectors) for vector, tv in zip(vectors, tokens, strict=True)]
        return [tv.vectors for tv in self.embedder.encode_tokens(texts, batch_size=batch_size)]  # type: ignore[attr-defined]

    def word_pieces(self, texts: list[str]) -> list[list[str]]:
        return self.embedder.word_pieces(texts)  # type: ignore[attr-defined]


class RayEmbedder:
    """The Embedder (and TokenEncoder) protocol on long-lived Ray actors: one per node of the
    cluster, or ``actors`` spread over it; ``close()`` ends them. Waits for one actor to load its
    model (for the dimension)."""

    def __init__(self, settings: Settings, *, actors: int | None = None, progress: Progress | None = None,
                 actor: type[EmbedActor] = EmbedActor) -> None:
        ray = self.ray = import_ray()
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        self.settings, self.name, self.backend = settings, settings.model, settings.embed_backend
        self.progress = progress or (lambda _line: None)
        remote = ray.remote(num_cpus=ACTOR_CPUS, max_restarts=RETRIES, max_task_retries=RETRIES)(actor)
        nodes = [n["NodeID"] for n in ray.nodes() if n["Alive"]]
        places = (["SPREAD"] * actors if actors else  # soft: a restarted actor may go to another node
                  [NodeAffinitySchedulingStrategy(node, soft=True) for node in nodes])
        self.actors = [remote.options(scheduling_strategy=place).remote(settings) for place in places]
        self.dimension = int(ray.get(self.actors[0].dimension.remote()))

    def close(self) -> None:
        for handle in self.actors:
            self.ray.kill(handle)

    def _run(self, kind: str, texts: Sequence[str], batch_size: int) -> list[Any]:
        """Each text's result, in the order of ``texts``: the encoder's own batches, one per call."""
        ray, texts = self.ray, list(texts)
        order = ray.get(self.actors[0].order.remote(texts))
        runs = deque(order[i : i + batch_size] for i in range(0, len(order), batch_size))
        pending: dict[Any, tuple[Any, list[int]]] = {}  # call -> (actor, its run)

        def send(actor: Any) -> None:
            if runs:
                run = runs.popleft()
                pending[actor.embed.remote(kind, [texts[i] for i in run], batch_size)] = (actor, run)

        for actor in self.actors * IN_FLIGHT:
            send(actor)
        out: list[Any] = [None] * len(texts)
        started, done = time.perf_counter(), 0
        while pending:  # whichever call finishes first: its actor gets the next run
            [call], _ = ray.wait(list(pending), num_returns=1)
            actor, run = pending.pop(call)
            send(actor)
            for i, row in zip(run, ray.get(call), strict=True):
                out[i] = row
            done += len(run)
        if len(texts) > 1:
            rate = done / max(time.perf_counter() - started, 1e-9)
            self.progress(f"ray: embedded {done} texts ({kind}) at {rate:.1f}/s, "
                          f"{rate / len(self.actors):.1f}/s per actor")
        return out

    def encode(self, texts: Sequence[str], *, batch_size: int = 32, progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.asarray(self._run("vectors", texts, batch_size), dtype=np.float32)

    def encode_tokens(self, texts: Sequence[str], *, batch_size: int = 32) -> list[TokenVectors]:
        return [TokenVectors((), np.asarray(v, dtype=np.float32)) for v in self._run("tokens", texts, batch_size)]

    def encode_with_tokens(self, texts: Sequence[str], *, batch_size: int = 32
                           ) -> tuple[np.ndarray, list[TokenVectors]]:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32), []
        both = self._run("both", texts, batch_size)
        return (np.asarray([vector for vector, _ in both], dtype=np.float32),
                [TokenVectors((), np.asarray(tokens, dtype=np.float32)) for _, tokens in both])

    def word_pieces(self, texts: Sequence[str]) -> list[list[str]]:
        return self.ray.get(self.actors[0].word_pieces.remote(list(texts)))


def _prepare(path: str, settings: Settings, catalog: Any) -> PreparedDocument | SkippedFile:
    """A Ray task: one file read, cleaned, described and chunked (or why it could not be read)."""
    try:
        return prepare_document(read_document(Path(path)), settings, catalog)
    except IngestError as exc:
        return SkippedFile(path, str(exc))


def ray_documents(ray: Any, *, ahead: int) -> Callable[[Settings, Any], Iterator[PreparedDocument | SkippedFile]]:
    """A ``DocumentSource``: every corpus file prepared in a Ray task, ``ahead`` files in flight,
    taken in corpus order (with ``iter_corpus``'s rule for a second file of the same id)."""
    task = ray.remote(num_cpus=READ_CPUS, max_retries=RETRIES)(_prepare)

    def documents(settings: Settings, catalog: Any) -> Iterator[PreparedDocument | SkippedFile]:
        paths, pending, owners = iter(corpus_files(settings.corpus_dir)), deque(), {}
        started, count, passages = time.perf_counter(), 0, 0
        while True:
            while len(pending) < ahead and (path := next(paths, None)) is not None:
                pending.append((path, task.remote(str(path), settings, catalog)))
            if not pending:
                return
            path, future = pending.popleft()
            item, doc_id = ray.get(future), doc_id_for(path)
            if doc_id in owners:  # the id is taken by an earlier file: as iter_corpus skips it
                item = SkippedFile(str(path), f"document id {doc_id!r} is already used by {owners[doc_id]}; "
                                              "rename one of the two files")
            if isinstance(item, PreparedDocument):
                owners[doc_id] = str(path)
                count, passages = count + 1, passages + len(item.passages)
                log.info("ray: read and chunked %d documents, %d passages (%.1f documents/s)", count, passages,
                         count / max(time.perf_counter() - started, 1e-9))
            else:
                log.warning("skipping %s: %s", item.path, item.reason)
            yield item

    return documents


def build_on_ray(settings: Settings, *, address: str = "auto", actors: int | None = None, rebuild: bool = False,
                 progress: Progress | None = None, actor: type[EmbedActor] = EmbedActor) -> BuildReport:
    """``crps_qa.index.build.build`` on a Ray cluster at ``address`` ("auto": the cluster this
    machine joined with ``ray start``; "local": a new one-machine cluster; or HOST:PORT).
    ``actors`` encoders embed (default: one per node, on all its cores)."""
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
    embedder = None
    try:
        embedder = RayEmbedder(settings, actors=actors, progress=say, actor=actor)
        pool = len(embedder.actors)
        say(f"ray: {len([n for n in ray.nodes() if n['Alive']])} node(s), {pool} embedding actor(s)")
        return build(settings, embedder, rebuild=rebuild, progress=progress is not None,
                     documents=ray_documents(ray, ahead=max(2 * pool, 4)))
    except ray.exceptions.RayError as exc:
        raise IndexBuildError(
            f"The Ray build failed ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
            "the previous index is still current. Check the cluster (`ray status`) and run it again."
        ) from exc
    finally:
        if embedder is not None:
            embedder.close()
        if started_here:
            ray.shutdown()
