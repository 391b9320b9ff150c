"""Build or refresh the index: corpus files → clean text → passages → vectors + BM25 → disk.

    report = build(settings, embedder)            # incremental: reuses unchanged vectors
    report = build(settings, embedder, rebuild=True)

A file that cannot be read is reported in ``report.skipped`` and the rest still indexes.
Documents are read and embedded ``index_batch_documents`` at a time, each batch committed to
``builds/.staging`` (:mod:`crps_qa.index.staging`): a killed build run again resumes after its
last committed batch. The joined index is published atomically at the end (store.save_index).
"""

from __future__ import annotations

import logging
import re
import time
from collections import ChainMap
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from crps_qa.errors import CrpsQaError, IngestError
from crps_qa.index.ann import build_dense
from crps_qa.index.embed import Embedder, TokenEncoder, backend_of
from crps_qa.index.manifest import FORMAT_VERSION, manifest_backend, read_manifest
from crps_qa.index.staging import Progress, Stage
from crps_qa.index.store import (
    BUILDS,
    build_lock,
    load_index,
    save_index,
)
from crps_qa.index.tables import CorpusTables
from crps_qa.index.tokens import TokenTable
from crps_qa.ingest.abbrev import QueryExpander, extract_abbreviations, merge
from crps_qa.ingest.catalog import load_catalog
from crps_qa.ingest.chunk import split_sentences
from crps_qa.ingest.facets import FACETS_VERSION
from crps_qa.ingest.read import corpus_files, ingest_corpus
from crps_qa.settings import Settings
from crps_qa.types import CleanDocument, DocumentInfo, Passage, SkippedFile

log = logging.getLogger(__name__)

# Bump when the text given to the embedder changes shape, so cached vectors are not reused.
EMBED_TEMPLATE = "title-section-text/1"


def embedding_text(info: DocumentInfo, passage: Passage) -> str:
    """What the dense model sees: the passage with its document title and section as context.

    Context helps short passages ("Table 3 ...") land near questions that name the topic.
    """
    section = f"{passage.section}. " if passage.section else ""
    return f"{info.title}. {section}{passage.text}"


@dataclass(frozen=True)
class BuildReport:
    build_dir: Path
    documents: int
    passages: int
    embedded: int  # passage vectors computed in this build
    reused: int  # passage vectors taken from the previous build (or shared with an identical passage)
    sentences_embedded: int  # sentence vectors computed in this build
    skipped: tuple[SkippedFile, ...]
    seconds: float
    tokens_encoded: int = 0  # sentences whose token vectors were computed in this build


def chunking_settings(settings: Settings) -> dict[str, Any]:
    return {
        "max_words": settings.chunk_max_words,
        "overlap_sentences": settings.chunk_overlap_sentences,
        "embed_template": EMBED_TEMPLATE,
    }


def is_stale(settings: Settings) -> str | None:
    """Why the index must be (re)built, or None when it matches the corpus and settings."""
    try:
        manifest = read_manifest(settings.index_dir)
    except CrpsQaError as exc:
        return str(exc)
    if manifest.get("format_version") != FORMAT_VERSION:
        return "index format changed"
    if manifest.get("model") != settings.model:
        return f"model changed ({manifest.get('model')} → {settings.model})"
    if manifest_backend(manifest) != settings.embed_backend:
        return f"embedding backend changed ({manifest_backend(manifest)} → {settings.embed_backend})"
    if manifest.get("chunking") != chunking_settings(settings):
        return "chunking settings changed"
    if manifest.get("dense", {}).get("exact_below", settings.exact_search_below) != settings.exact_search_below:
        return "exact_search_below changed"  # only the dense index is redone: every vector is reused
    if "token_keys" not in manifest:
        return "the index predates stored token vectors"  # refreshed: only those are computed
    if manifest.get("facets_version") != FACETS_VERSION:
        return "the evidence facet rules changed"  # refreshed: every vector is reused
    report = ingest_corpus(settings.corpus_dir)
    now = {raw.doc_id: raw.sha256 for raw in report.documents}
    before = {doc_id: d["sha256"] for doc_id, d in manifest.get("documents", {}).items()}
    if now != before:
        changed = sorted(set(now.items()) ^ set(before.items()))
        return f"corpus changed ({', '.join(sorted({d for d, _ in changed}))})"
    return None


def corpus_expansions(texts) -> list[tuple[str, str]]:  # noqa: ANN001 - Iterable[CleanDocument]
    """Abbreviations the documents define, plus spelling variants the corpus actually uses."""
    texts = list(texts)
    abbreviations = merge(extract_abbreviations(t.text) for t in texts)
    words = {w for t in texts for w in re.findall(r"[\w-]+", t.text.lower())}
    return QueryExpander(abbreviations, words).pairs


def _previous_vectors(settings: Settings) -> tuple[dict[str, np.ndarray], TokenTable | None, list[str]]:
    """Passage and sentence vectors of the current build by cache key, and its token table with
    the cache key of each of its sentences, when it used the same model and backend."""
    try:
        old = load_index(settings.index_dir, model=settings.model, backend=settings.embed_backend)
    except CrpsQaError:
        return {}, None, []
    cache: dict[str, np.ndarray] = {}
    for name, vectors in (("vector_keys", old.vectors), ("sentence_keys", old.sentences.vectors)):
        keys = old.manifest.get(name, [])
        if len(keys) == len(vectors):
            cache.update(zip(keys, vectors, strict=True))
    keys = old.manifest.get("token_keys", [])
    if old.tokens is None or len(keys) != len(old.tokens):
        return cache, None, []
    return cache, old.tokens, keys


def sentence_spans(texts: dict[str, CleanDocument], passages: list[Passage]) -> tuple[np.ndarray, ...]:
    """(passage row, char_start, char_end) of every sentence of every passage."""
    rows, starts, ends = [], [], []
    for row, passage in enumerate(passages):
        for start, end in split_sentences(texts[passage.doc_id].text, passage.char_start, passage.char_end):
            rows.append(row)
            starts.append(start)
            ends.append(end)
    return tuple(np.asarray(a, dtype=np.int64) for a in (rows, starts, ends))


def build(
    settings: Settings, embedder: Embedder, *, rebuild: bool = False, progress: bool = False,
    on_batch: Callable[[int], None] | None = None, documents: Any = None,
) -> BuildReport:
    """Index ``settings.corpus_dir`` into ``settings.index_dir`` (see module docstring).

    Documents are embedded in batches of ``index_batch_documents``; each batch is committed to the
    stage (:mod:`crps_qa.index.staging`) as soon as it is done, and ``on_batch(number)`` is called.
    A build that was killed resumes from its committed batches: nothing they hold is embedded
    again. The index is published (atomically) only when every batch is done. ``documents`` (a
    ``crps_qa.index.batches.DocumentSource``) reads, cleans and chunks the corpus: by default this
    process does (``read_documents``), the Ray build does it in Ray tasks."""
    # here, not at the top: crps_qa.index.batches uses this module's helpers
    from crps_qa.index.batches import assemble, batches, embed_batch, fingerprint, read_documents, staged_sentences

    started = time.perf_counter()
    if embedder.name != settings.model:
        raise CrpsQaError(f"Embedder {embedder.name!r} does not match the model setting {settings.model!r}.")
    if backend_of(embedder, settings.embed_backend) != settings.embed_backend:
        raise CrpsQaError(f"Embedder backend {backend_of(embedder, settings.embed_backend)!r} does not match the "
                          f"embed_backend setting {settings.embed_backend!r}.")
    with build_lock(settings.index_dir):
        catalog = load_catalog(settings.corpus_dir)
        files = corpus_files(settings.corpus_dir)
        stage = Stage.open(settings.index_dir / BUILDS, fingerprint(settings, embedder))
        cache, previous_tokens, previous_keys = ({}, None, []) if rebuild else _previous_vectors(settings)
        skipped: list[SkippedFile] = []
        meter = Progress(len(files), enabled=progress)
        parts, embedded = [], 0
        source = (documents or read_documents)(settings, catalog)  # hook: the Ray build reads in tasks
        for number, batch in enumerate(batches(source, settings.index_batch_documents, skipped)):
            done = stage.committed(number, [(d.doc_id, d.sha256) for d in batch])
            if done is None:
                meta, arrays, count = embed_batch(batch, settings, embedder, ChainMap({}, cache))
                stage.commit(number, meta, arrays)
                embedded += count
                if on_batch is not None:
                    on_batch(number)
            else:
                meta, arrays = done
            parts.append((meta, arrays))
            meter.advance(len(batch), len(meta["passages"]), fresh=done is None)
        meter.close()
        if not parts:
            raise IngestError(
                f"No readable documents in {settings.corpus_dir}/ "
                f"({len(skipped)} skipped). Add .txt, .md or .pdf files and run crps-qa index again."
            )
        data = assemble(parts, settings, embedder, skipped)
        data.dense, dense_report = build_dense(data.vectors, exact_below=settings.exact_search_below)
        data.manifest["dense"] = dense_report.to_dict()  # index type, efSearch, recall@10 against exact
        # every sentence's vector and the word matcher's token vectors, so no query or warm-up encodes them
        sentences = staged_sentences(stage, parts, data, embedder, settings, cache, previous_tokens, previous_keys,
                                     on_batch=on_batch)
        data.sentences = replace(data.sentences, vectors=sentences.vectors)
        data.tokens = sentences.tokens
        data.manifest.update(sentence_keys=sentences.keys, token_keys=sentences.token_keys)
        # the query side's corpus statistics, counted now rather than whenever a pipeline opens
        data.tables = CorpusTables.build(
            data, word_pieces=embedder.word_pieces if isinstance(embedder, TokenEncoder) else None)
        build_dir = save_index(data, settings.index_dir)
        stage.remove()
    for file in skipped:
        log.warning("skipped %s: %s", file.path, file.reason)
    return BuildReport(
        build_dir=build_dir,
        documents=len(data.documents),
        passages=len(data.passages),
        embedded=embedded,
        reused=len(data.passages) - embedded,
        sentences_embedded=sentences.embedded,
        skipped=tuple(skipped),
        seconds=time.perf_counter() - started,
        tokens_encoded=sentences.tokens_encoded,
    )
