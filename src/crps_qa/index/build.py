"""Build or refresh the index: corpus files → clean text → passages → vectors + BM25 → disk.

    report = build(settings, embedder)            # incremental: reuses unchanged vectors
    report = build(settings, embedder, rebuild=True)

A file that cannot be read is reported in ``report.skipped`` and the rest still indexes.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from crps_qa.errors import CrpsQaError, IngestError
from crps_qa.index.embed import Embedder, TokenEncoder
from crps_qa.index.lexical import Bm25Index
from crps_qa.index.manifest import FORMAT_VERSION, read_manifest
from crps_qa.index.match_text import match_text
from crps_qa.index.store import (
    IndexData,
    SentenceTable,
    TokenTable,
    build_lock,
    load_index,
    make_dense,
    new_build_id,
    save_index,
    utc_now,
    vector_key,
)
from crps_qa.ingest.abbrev import QueryExpander, extract_abbreviations, merge
from crps_qa.ingest.catalog import describe, load_catalog
from crps_qa.ingest.chunk import chunk_document, split_sentences
from crps_qa.ingest.pages import normalize_document
from crps_qa.ingest.read import ingest_corpus
from crps_qa.settings import Settings
from crps_qa.types import CleanDocument, DocumentInfo, Passage, SkippedFile

log = logging.getLogger(__name__)

# Bump when the text given to the embedder changes shape, so cached vectors are not reused.
EMBED_TEMPLATE = "title-section-text/1"
# The same for the sentence text the word matcher reads (crps_qa.index.match_text.match_text).
MATCH_TEMPLATE = "caption-expanded/1"


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
    if manifest.get("chunking") != chunking_settings(settings):
        return "chunking settings changed"
    if "token_keys" not in manifest:
        return "the index predates stored token vectors"  # refreshed: only those are computed
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


def _previous_vectors(settings: Settings) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Passage and sentence vectors, and sentence token vectors, of the current build by cache
    key, when it used the same model."""
    try:
        old = load_index(settings.index_dir, model=settings.model)
    except CrpsQaError:
        return {}, {}
    cache: dict[str, np.ndarray] = {}
    for name, vectors in (("vector_keys", old.vectors), ("sentence_keys", old.sentences.vectors)):
        keys = old.manifest.get(name, [])
        if len(keys) == len(vectors):
            cache.update(zip(keys, vectors, strict=True))
    tokens: dict[str, np.ndarray] = {}
    table, keys = old.tokens, old.manifest.get("token_keys", [])
    if table is not None and len(keys) == len(table):
        tokens = {key: np.asarray(table.vectors[table.offsets[i] : table.offsets[i + 1]], dtype=np.float32)
                  for i, key in enumerate(keys)}
    return cache, tokens


def token_table(
    data: IndexData, embedder: Embedder, model: str, cache: dict[str, np.ndarray], *, batch_size: int,
) -> tuple[TokenTable | None, list[str], int]:
    """The token vectors of every distinct sentence as the word matcher reads it (cached ones
    reused), their cache keys, and how many sentences were encoded; (None, [], 0) when the
    embedder has no token vectors of its own dimension (they are then encoded at query time)."""
    if not isinstance(embedder, TokenEncoder) or data.sentences is None or not len(data.sentences):
        return None, [], 0
    probe = embedder.encode_tokens(["probe"])[0].vectors
    if probe.ndim != 2 or probe.shape[1] != embedder.dimension:
        return None, [], 0
    expander = QueryExpander(dict(data.expansions))
    table = data.sentences
    keys = sorted({(data.passages[int(r)].doc_id, int(a), int(b))
                   for r, a, b in zip(table.rows, table.starts, table.ends, strict=True)})
    texts = [match_text(data.texts[d].text, data.texts[d].sections, a, b, expander) for d, a, b in keys]
    text_keys = [vector_key(model, f"{MATCH_TEMPLATE}|{text}") for text in texts]
    todo = list(dict.fromkeys(k for k in text_keys if k not in cache))
    first = {k: i for i, k in reversed(list(enumerate(text_keys)))}
    for start in range(0, len(todo), batch_size * 8):
        batch = todo[start : start + batch_size * 8]
        encoded = embedder.encode_tokens([texts[first[k]] for k in batch], batch_size=batch_size)
        cache.update((k, tv.vectors) for k, tv in zip(batch, encoded, strict=True))
    tokens = TokenTable.of(keys, [cache[k] for k in text_keys], embedder.dimension)
    return tokens, text_keys, len(todo)


def embed_cached(
    texts: list[str], model: str, embedder: Embedder, cache: dict[str, np.ndarray], *, batch_size: int,
    progress: bool,
) -> tuple[np.ndarray, list[str], int]:
    """Vectors of ``texts`` (cached ones reused, each distinct new text encoded once), their cache
    keys, and how many texts were encoded. New vectors are added to ``cache``."""
    keys = [vector_key(model, text) for text in texts]
    todo = list(dict.fromkeys(key for key in keys if key not in cache))
    first = {key: i for i, key in reversed(list(enumerate(keys)))}
    fresh = embedder.encode([texts[first[key]] for key in todo], batch_size=batch_size, progress=progress)
    cache.update(zip(todo, fresh, strict=True))
    vectors = np.zeros((len(texts), embedder.dimension), dtype=np.float32)
    for i, key in enumerate(keys):
        vectors[i] = cache[key]
    return vectors, keys, len(todo)


def sentence_spans(texts: dict[str, CleanDocument], passages: list[Passage]) -> tuple[np.ndarray, ...]:
    """(passage row, char_start, char_end) of every sentence of every passage."""
    rows, starts, ends = [], [], []
    for row, passage in enumerate(passages):
        for start, end in split_sentences(texts[passage.doc_id].text, passage.char_start, passage.char_end):
            rows.append(row)
            starts.append(start)
            ends.append(end)
    return tuple(np.asarray(a, dtype=np.int64) for a in (rows, starts, ends))


def build(settings: Settings, embedder: Embedder, *, rebuild: bool = False, progress: bool = False) -> BuildReport:
    """Index ``settings.corpus_dir`` into ``settings.index_dir`` (see module docstring)."""
    started = time.perf_counter()
    if embedder.name != settings.model:
        raise CrpsQaError(f"Embedder {embedder.name!r} does not match the model setting {settings.model!r}.")
    with build_lock(settings.index_dir):
        report = ingest_corpus(settings.corpus_dir)
        if not report.documents:
            raise IngestError(
                f"No readable documents in {settings.corpus_dir}/ "
                f"({len(report.skipped)} skipped). Add .txt, .md or .pdf files and run crps-qa index again."
            )
        catalog = load_catalog(settings.corpus_dir)
        texts, documents, passages, hashes = {}, {}, [], {}
        for raw in report.documents:
            clean = normalize_document(raw)
            texts[raw.doc_id] = clean
            documents[raw.doc_id] = describe(clean, raw.path, catalog)
            doc_passages = chunk_document(
                clean, max_words=settings.chunk_max_words, overlap_sentences=settings.chunk_overlap_sentences
            )
            passages.extend(doc_passages)
            hashes[raw.doc_id] = {"sha256": raw.sha256, "path": raw.path, "passages": len(doc_passages)}

        cache, token_cache = ({}, {}) if rebuild else _previous_vectors(settings)
        embed = {"batch_size": settings.batch_size, "progress": progress}
        inputs = [embedding_text(documents[p.doc_id], p) for p in passages]
        vectors, keys, embedded = embed_cached(inputs, settings.model, embedder, cache, **embed)
        # Each sentence on its own, without title context: re-scoring asks "does one sentence of
        # this passage say what the question asks?", which a whole-passage vector blurs.
        rows, starts, ends = sentence_spans(texts, passages)
        sentence_texts = [texts[passages[r].doc_id].text[a:b] for r, a, b in zip(rows, starts, ends, strict=True)]
        sentence_vectors, sentence_keys, sentences_embedded = embed_cached(
            sentence_texts, settings.model, embedder, cache, **embed
        )
        sentences = SentenceTable(rows, starts, ends, sentence_vectors)

        manifest = {
            "format_version": FORMAT_VERSION,
            "build_id": new_build_id(),
            "built_at": utc_now(),
            "model": settings.model,
            "dimension": embedder.dimension,
            "chunking": chunking_settings(settings),
            "documents": hashes,
            "skipped": [{"path": s.path, "reason": s.reason} for s in report.skipped],
            "counts": {"documents": len(documents), "passages": len(passages), "sentences": len(sentences)},
            "vector_keys": keys,
            "sentence_keys": sentence_keys,
        }
        data = IndexData(
            manifest, documents, texts, passages, vectors, make_dense(vectors),
            Bm25Index.build([p.text for p in passages]), corpus_expansions(texts.values()), sentences=sentences,
        )
        # the word matcher's token vectors of every sentence, so no query or warm-up encodes them
        data.tokens, token_keys, tokens_encoded = token_table(
            data, embedder, settings.model, token_cache, batch_size=settings.batch_size
        )
        manifest["token_keys"] = token_keys
        build_dir = save_index(data, settings.index_dir)
    for skipped in report.skipped:
        log.warning("skipped %s: %s", skipped.path, skipped.reason)
    return BuildReport(
        build_dir=build_dir,
        documents=len(documents),
        passages=len(passages),
        embedded=embedded,
        reused=len(passages) - embedded,
        sentences_embedded=sentences_embedded,
        skipped=report.skipped,
        seconds=time.perf_counter() - started,
        tokens_encoded=tokens_encoded,
    )
