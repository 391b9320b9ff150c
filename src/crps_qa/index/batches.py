"""Indexing in batches: read, clean and chunk documents (:func:`read_documents`, or any
``DocumentSource``, such as the Ray build's tasks), embed them a batch at a time, commit each batch
to the stage, join the committed batches into one index, and compute the token vectors batch by batch.

Used by :func:`crps_qa.index.build.build`; the on-disk stage is :mod:`crps_qa.index.staging`.
"""

from __future__ import annotations

import hashlib
import json
from collections import ChainMap
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from crps_qa.index.build import chunking_settings, corpus_expansions, embedding_text, sentence_spans
from crps_qa.index.embed import Embedder
from crps_qa.index.encodings import MATCH_TEMPLATE, embed_cached, sentence_encodings
from crps_qa.index.lexical import Bm25Index
from crps_qa.index.manifest import FORMAT_VERSION
from crps_qa.index.staging import Stage
from crps_qa.index.store import IndexData, SentenceEncodings, SentenceTable, new_build_id, utc_now
from crps_qa.index.tokens import TokenTable, TokenWriter
from crps_qa.ingest.catalog import describe
from crps_qa.ingest.chunk import chunk_document
from crps_qa.ingest.facets import FACETS_VERSION
from crps_qa.ingest.pages import normalize_document
from crps_qa.ingest.read import iter_corpus
from crps_qa.settings import Settings
from crps_qa.types import CleanDocument, DocumentInfo, Passage, RawDocument, Section, SkippedFile


@dataclass(frozen=True)
class PreparedDocument:
    """A corpus file read, cleaned, described and chunked: what a batch embeds. Made on the
    driver by :func:`read_documents`, or in a Ray task (crps_qa.index.ray_build), the same way."""

    doc_id: str
    sha256: str
    path: str
    clean: CleanDocument
    info: DocumentInfo
    passages: tuple[Passage, ...]


def prepare_document(raw: RawDocument, settings: Settings, catalog: Any) -> PreparedDocument:
    """One document cleaned, described (catalog and facets) and chunked."""
    clean = normalize_document(raw)
    passages = chunk_document(clean, max_words=settings.chunk_max_words,
                              overlap_sentences=settings.chunk_overlap_sentences)
    return PreparedDocument(raw.doc_id, raw.sha256, raw.path, clean, describe(clean, raw.path, catalog),
                            tuple(passages))


def read_documents(settings: Settings, catalog: Any) -> Iterator[PreparedDocument | SkippedFile]:
    """The corpus's documents prepared one at a time, in corpus order, on this process (a
    ``DocumentSource``; the Ray build's one prepares them in tasks)."""
    for item in iter_corpus(settings.corpus_dir):
        yield item if isinstance(item, SkippedFile) else prepare_document(item, settings, catalog)


# (settings, catalog) -> the corpus's documents in corpus order, files that cannot be read as SkippedFile
DocumentSource = Callable[[Settings, Any], Iterable[PreparedDocument | SkippedFile]]


def batches(documents: Iterable[PreparedDocument | SkippedFile], size: int, skipped: list[SkippedFile]
            ) -> Iterator[list[PreparedDocument]]:
    """``documents`` ``size`` at a time (files that could not be read go to ``skipped``)."""
    batch: list[PreparedDocument] = []
    for item in documents:
        if isinstance(item, SkippedFile):
            skipped.append(item)
            continue
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def fingerprint(settings: Settings, embedder: Embedder) -> dict[str, Any]:
    """What committed batches depend on: another value empties the stage."""
    return {"format_version": FORMAT_VERSION, "model": settings.model, "dimension": embedder.dimension,
            "chunking": chunking_settings(settings), "batch_documents": settings.index_batch_documents,
            "match_template": MATCH_TEMPLATE, "stage_layout": 2}


def embed_batch(
    batch: Sequence[PreparedDocument], settings: Settings, embedder: Embedder, cache: MutableMapping,
) -> tuple[dict[str, Any], dict[str, np.ndarray], int]:
    """One batch of prepared documents embedded: (meta, arrays, passages embedded) as
    :meth:`Stage.commit` stores them (passage vectors, and the spans of their sentences)."""
    texts = {d.doc_id: d.clean for d in batch}
    documents = {d.doc_id: d.info for d in batch}
    passages = [p for d in batch for p in d.passages]
    described = [{
        "doc_id": d.doc_id, "sha256": d.sha256, "path": d.path, "passages": len(d.passages),
        "info": d.info.to_dict(), "text": d.clean.text, "page_starts": list(d.clean.page_starts),
        "sections": [[section.start, section.title] for section in d.clean.sections],
    } for d in batch]
    inputs = [embedding_text(documents[p.doc_id], p) for p in passages]
    vectors, keys, embedded = embed_cached(inputs, settings.model, embedder, cache, batch_size=settings.batch_size,
                                           progress=False)
    # the sentences' spans; their vectors come with their token vectors (staged_sentences), once
    # the corpus's abbreviations are known
    rows, starts, ends = sentence_spans(texts, passages)
    meta = {"sources": [[d.doc_id, d.sha256] for d in batch], "documents": described,
            "passages": [p.to_dict() for p in passages], "vector_keys": keys}
    arrays = {"vectors": vectors, "sentence_rows": rows, "sentence_starts": starts, "sentence_ends": ends}
    return meta, arrays, embedded


def assemble(
    parts: list[tuple[dict, dict[str, np.ndarray]]], settings: Settings, embedder: Embedder,
    skipped: Sequence[SkippedFile],
) -> IndexData:
    """The committed batches joined, in corpus order, as one index (without its dense index and
    token table yet): passage row i of batch b is row (passages before b) + i."""
    texts, documents, hashes, passages, keys = {}, {}, {}, [], []
    vectors, spans = [], ([], [], [])
    for meta, arrays in parts:
        for d in meta["documents"]:
            texts[d["doc_id"]] = CleanDocument(doc_id=d["doc_id"], text=d["text"], page_starts=tuple(d["page_starts"]),
                                               sections=tuple(Section(a, t) for a, t in d["sections"]))
            documents[d["doc_id"]] = DocumentInfo.from_dict(d["info"])
            hashes[d["doc_id"]] = {"sha256": d["sha256"], "path": d["path"], "passages": d["passages"]}
        spans[0].append(arrays["sentence_rows"] + len(passages))
        spans[1].append(arrays["sentence_starts"])
        spans[2].append(arrays["sentence_ends"])
        passages.extend(Passage(**p) for p in meta["passages"])
        vectors.append(arrays["vectors"])
        keys += meta["vector_keys"]
    spans_ = [np.concatenate(column).astype(np.int64) for column in spans]
    # the sentences' vectors: filled in by staged_sentences
    sentences = SentenceTable(*spans_, np.zeros((len(spans_[0]), embedder.dimension), dtype=np.float32))
    manifest = {
        "format_version": FORMAT_VERSION,
        "build_id": new_build_id(),
        "built_at": utc_now(),
        "model": settings.model,
        "embed_backend": settings.embed_backend,
        "dimension": embedder.dimension,
        "chunking": chunking_settings(settings),
        "facets_version": FACETS_VERSION,
        "documents": hashes,
        "skipped": [{"path": s.path, "reason": s.reason} for s in skipped],
        "counts": {"documents": len(documents), "passages": len(passages), "sentences": len(sentences)},
        "vector_keys": keys,
    }
    passage_vectors = np.concatenate(vectors).astype(np.float32)
    return IndexData(manifest, documents, texts, passages, passage_vectors, None,
                     Bm25Index.build([p.text for p in passages]), corpus_expansions(texts.values()),
                     sentences=sentences)


def staged_sentences(
    stage: Stage, parts: list[tuple[dict, dict[str, np.ndarray]]], data: IndexData, embedder: Embedder,
    settings: Settings, cache: Mapping[str, np.ndarray], previous: TokenTable | None = None,
    previous_keys: Sequence[str] = (), *, on_batch: Callable[[int], None] | None = None,
) -> SentenceEncodings:
    """The sentences' vectors and (compressed) token table (:func:`sentence_encodings`), batch by
    batch, each batch committed to the stage (under the corpus's expansions, which the matcher
    reads sentences with); vectors in ``cache`` and sentences of the ``previous`` build's table are
    reused. One batch's table is the index's as it is; several are joined under one codec
    (:class:`crps_qa.index.tokens.TokenWriter`)."""
    expansions = hashlib.sha256(json.dumps(data.expansions).encode()).hexdigest()[:16]
    done: list[SentenceEncodings] = []
    row = 0
    for number, (meta, _) in enumerate(parts):
        ids = {d["doc_id"] for d in meta["documents"]}
        rows = range(row, row + len(meta["passages"]))
        row = rows.stop
        encodings = stage.sentences(number, expansions)
        if encodings is None:  # new vectors go to this batch's own map: the cache does not grow with the corpus
            encodings = sentence_encodings(_batch_view(data, ids, rows), embedder, settings.model,
                                           ChainMap({}, cache), previous, previous_keys, batch_size=settings.batch_size)
            stage.commit_sentences(number, expansions, encodings)
            if on_batch is not None:
                on_batch(len(parts) + number)
        done.append(encodings)
    vectors = np.concatenate([e.vectors for e in done]).astype(np.float32)
    keys = [key for e in done for key in e.keys]
    counts = sum(e.embedded for e in done), sum(e.tokens_encoded for e in done)
    # a batch without a table: the embedder has no token vectors, or the batch has no sentence
    if any(e.tokens is None and len(e.keys) for e in done) or all(e.tokens is None for e in done):
        return SentenceEncodings(vectors, keys, None, [], *counts)
    done = [e for e in done if e.tokens is not None]
    if len(done) == 1:
        return replace(done[0], vectors=vectors, keys=keys, embedded=counts[0], tokens_encoded=counts[1])
    writer = TokenWriter(embedder.dimension, previous.codec if previous is not None else None)
    table_keys, text_keys = [], []
    for e in done:
        table = e.tokens
        for i, (doc_id, start, end) in enumerate(zip(table.doc_ids, table.starts, table.ends, strict=True)):
            key = e.token_keys[i]
            if key not in writer:
                same_codec = table.codec is not None and table.codec is writer.codec
                if same_codec:
                    writer.add_codes(key, table.row_codes(i))
                else:
                    writer.add(key, table.row(i))
            table_keys.append((doc_id, int(start), int(end)))
            text_keys.append(key)
    return SentenceEncodings(vectors, keys, writer.table(table_keys, text_keys), text_keys, *counts)


def _batch_view(data: IndexData, doc_ids: set[str], rows: range) -> IndexData:
    """The part of ``data`` one batch made (its passages, their sentences), with the whole
    corpus's expansions."""
    table = data.sentences
    keep = (table.rows >= rows.start) & (table.rows < rows.stop)
    sentences = SentenceTable(table.rows[keep] - rows.start, table.starts[keep], table.ends[keep], table.vectors[keep])
    return IndexData(data.manifest, {d: data.documents[d] for d in doc_ids}, {d: data.texts[d] for d in doc_ids},
                     data.passages[rows.start : rows.stop], data.vectors[rows.start : rows.stop], None, data.bm25,
                     data.expansions, sentences=sentences)
