"""Run crps-qa's retrieval on a BEIR-format data set (corpus.jsonl, queries.jsonl, qrels/test.tsv).

Each BEIR document is one unit (title + text, no chunking), as in the published baselines. Its
sentences (the title, then ``chunk.split_sentences`` of the text) are embedded too, so hybrid mode
re-scores by best sentence exactly as on an indexed corpus (see ``Retriever.rescore``).

    result = run_beir(Path("../shared/bench/scifact"), settings, embedder, modes=["hybrid"])
    result.metrics["hybrid"]["ndcg@10"]
"""

from __future__ import annotations

import csv
import json
import logging
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from crps_qa.errors import ConfigError
from crps_qa.index.embed import Embedder
from crps_qa.index.encodings import embed_cached, token_capable, token_table
from crps_qa.index.lexical import Bm25Index
from crps_qa.index.store import IndexData, SentenceTable, make_dense
from crps_qa.index.tokens import TokenTable, TokenWriter
from crps_qa.ingest.chunk import split_sentences
from crps_qa.query.analyzer import QueryAnalyzer
from crps_qa.query.spelling import Speller
from crps_qa.search.fusion import ranked
from crps_qa.search.retrieve import Retriever
from crps_qa.settings import Settings
from crps_qa.types import DocumentInfo, Passage

log = logging.getLogger(__name__)
BEIR_METRICS = ("ndcg@10", "recall@100", "mrr@10")


@dataclass(frozen=True)
class BeirResult:
    dataset: str
    documents: int
    queries: int
    metrics: dict[str, dict[str, float]]
    encode_seconds: float  # documents and sentences (0 when both came from the cache)
    query_ms_median: dict[str, float]
    sentences: int = 0
    sentence_seconds: float = 0.0  # the sentences' share of encode_seconds


def _read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def load_beir(
    directory: Path, split: str = "test"
) -> tuple[list[dict], dict[str, str], dict[str, dict[str, int]]]:
    """Corpus records, queries by id (only those judged in ``split``) and qrels."""
    needed = [directory / "corpus.jsonl", directory / "queries.jsonl", directory / "qrels" / f"{split}.tsv"]
    missing = [str(p) for p in needed if not p.exists()]
    if missing:
        raise ConfigError(f"{directory} is not a BEIR folder: missing {', '.join(missing)}.")
    qrels: dict[str, dict[str, int]] = {}
    with open(needed[2], encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            if int(row["score"]) > 0:
                qrels.setdefault(row["query-id"], {})[row["corpus-id"]] = int(row["score"])
    queries = {q["_id"]: q["text"] for q in _read_jsonl(needed[1]) if q["_id"] in qrels}
    return _read_jsonl(needed[0]), queries, qrels


def unit_text(document: dict) -> tuple[str, int]:
    """A document's unit text (title + text, as in the published baselines) and where its body
    starts (0 without a title).

    >>> unit_text({"title": "Pain fell.", "text": "It rose."})
    ('Pain fell.. It rose.', 12)
    """
    title, body = document.get("title", ""), document["text"]
    raw = f"{title}. {body}"
    text = raw.strip(". ")
    if not title.strip(". "):
        return text, 0
    lead = len(raw) - len(raw.lstrip(". "))
    return text, min(max(len(title) + 2 - lead, 0), len(text))


def beir_sentences(units: Sequence[tuple[str, int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(unit row, char_start, char_end) of every sentence: the title on its own (a SciFact title
    is often the paper's claim in one line, and may lack a final period), then the body's
    sentences by ``split_sentences``."""
    rows, starts, ends = [], [], []
    for row, (text, body) in enumerate(units):
        title = split_sentences(text, 0, body) if body else []
        for start, end in title + split_sentences(text, body):
            rows.append(row)
            starts.append(start)
            ends.append(end)
    return tuple(np.asarray(a, dtype=np.int64) for a in (rows, starts, ends))  # type: ignore[return-value]


def _cached_vectors(
    cache: Path | None, texts: list[str], embedder: Embedder, *, batch_size: int
) -> np.ndarray:
    """Vectors of ``texts``, from ``cache`` (.npy, checked by shape) or encoded and saved there."""
    if cache is not None and cache.exists():
        vectors = np.load(cache)
        if vectors.shape != (len(texts), embedder.dimension):
            raise ConfigError(f"Vector cache {cache} does not fit this corpus/model; delete it.")
        return vectors
    # Each distinct text once (a title repeated as its abstract's first sentence, boilerplate).
    vectors, _, _ = embed_cached(texts, embedder.name, embedder, {}, batch_size=batch_size, progress=True)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.save(cache, vectors)
    return vectors


def sentence_cache(cache: Path) -> Path:
    """Where the sentence vectors of a BEIR corpus are kept: beside its document vectors."""
    return cache.with_name(f"{cache.stem}-sentences.npy")


def token_cache(cache: Path) -> Path:
    """The folder of a BEIR corpus's compressed token vectors (a TokenTable), beside its vectors."""
    return cache.with_name(f"{cache.stem}-tokens")


def _sentences_with_tokens(
    texts: list[str], embedder: Embedder, keys: list[tuple[str, int, int]], *, batch_size: int
) -> tuple[np.ndarray, TokenTable]:
    """Sentence vectors and the word matcher's token vectors from one pass of the model: for a
    BEIR document the matcher reads a sentence as it is (no abbreviations, no table captions),
    so one text gives both. Each distinct text is encoded once."""
    match_texts = [" ".join(text.split()) for text in texts]  # WordMatcher.with_caption's spacing
    distinct = list(dict.fromkeys(match_texts))
    writer = TokenWriter(embedder.dimension)
    pooled: dict[str, np.ndarray] = {}
    step = batch_size * 64  # long runs of texts: the encoder sorts each run by length
    for start in range(0, len(distinct), step):
        chunk = distinct[start : start + step]
        vectors, tokens = embedder.encode_with_tokens(chunk)  # type: ignore[attr-defined]
        for text, vector, token_vectors in zip(chunk, vectors, tokens, strict=True):
            pooled[text] = vector
            writer.add(text, token_vectors.vectors)
        log.info("sentences and token vectors: %d of %d", start + len(chunk), len(distinct))
    first = dict(zip(keys, match_texts, strict=True))
    table_keys = sorted(set(keys))
    return np.stack([pooled[t] for t in match_texts]), writer.table(table_keys, [first[k] for k in table_keys])


def build_beir_index(
    corpus: Sequence[dict], embedder: Embedder, *, batch_size: int, cache: Path | None, sentences: bool = True,
    tokens: bool = True,
) -> tuple[IndexData, float, float]:
    """One passage per document, with its sentences (``sentences=False``: none, so no re-scoring)
    and their token vectors, compressed as ``crps-qa index`` stores them (``tokens=False``, or an
    embedder without token vectors: none, so the word matcher encodes candidates at query time).
    Vectors are cached in ``cache`` (a .npy file), ``<stem>-sentences.npy`` and ``<stem>-tokens/``
    when given. Returns the index, seconds spent on document vectors and on sentences (their
    vectors and token vectors)."""
    units = [unit_text(d) for d in corpus]
    texts = [text for text, _ in units]
    started = time.perf_counter()
    vectors = _cached_vectors(cache, texts, embedder, batch_size=batch_size)
    seconds = time.perf_counter() - started
    table, token_table_, token_folder, sentence_seconds = None, None, None, 0.0
    passages = [
        Passage(chunk_id=d["_id"], doc_id=d["_id"], text=text, char_start=0, char_end=len(text))
        for d, text in zip(corpus, texts, strict=True)
    ]
    if sentences:
        started = time.perf_counter()
        rows, starts, ends = beir_sentences(units)
        sentence_texts = [texts[r][a:b] for r, a, b in zip(rows, starts, ends, strict=True)]
        keys = [(passages[r].doc_id, int(a), int(b)) for r, a, b in zip(rows, starts, ends, strict=True)]
        vector_file = None if cache is None else sentence_cache(cache)
        token_folder = None if cache is None else token_cache(cache)
        tokens = tokens and token_capable(embedder)
        if tokens and token_folder is not None and (token_folder / "token_index.npz").exists():
            token_table_ = TokenTable.load(token_folder)
            if token_table_ is None or len(token_table_) != len(set(keys)):
                raise ConfigError(f"Token cache {token_folder} does not fit this corpus/model; delete it.")
        if tokens and token_table_ is None and (vector_file is None or not vector_file.exists()):
            sentence_vectors, token_table_ = _sentences_with_tokens(sentence_texts, embedder, keys,
                                                                    batch_size=batch_size)
            if vector_file is not None:
                np.save(vector_file, sentence_vectors)
        else:
            sentence_vectors = _cached_vectors(vector_file, sentence_texts, embedder, batch_size=batch_size)
        table = SentenceTable(rows, starts, ends, sentence_vectors)
        sentence_seconds = time.perf_counter() - started
    docs = {d["_id"]: DocumentInfo(doc_id=d["_id"], title=d.get("title", ""), path="") for d in corpus}
    counts = {"passages": len(passages), "sentences": 0 if table is None else len(table)}
    manifest = {"build_id": "beir", "model": embedder.name, "counts": counts}
    # No ``texts``: one passage per document, so the document prior would only repeat BM25.
    data = IndexData(
        manifest, docs, {}, passages, vectors, make_dense(vectors), Bm25Index.build(texts), sentences=table,
        tokens=token_table_,
    )
    if sentences and tokens and data.tokens is None:  # sentence vectors were cached, token vectors not
        started = time.perf_counter()
        data.tokens, _, _ = token_table(data, embedder, embedder.name, batch_size=batch_size)
        sentence_seconds += time.perf_counter() - started
    if data.tokens is not None and token_folder is not None and not token_folder.exists():
        token_folder.mkdir(parents=True)
        data.tokens.save(token_folder)
    return data, seconds, sentence_seconds


def run_beir(
    directory: Path,
    settings: Settings,
    embedder: Embedder,
    *,
    modes: Sequence[str],
    cache: Path | None = None,
) -> BeirResult:
    from ranx import Qrels, Run, evaluate

    corpus, queries, qrels = load_beir(directory)
    data, doc_seconds, sentence_seconds = build_beir_index(
        corpus, embedder, batch_size=settings.batch_size, cache=cache
    )
    analyzer = QueryAnalyzer(data, embedder, settings)
    if analyzer.speller is not None:  # typo correction against the corpus's words (the index keeps no texts)
        analyzer.speller = Speller.build(p.text for p in data.passages)
    retriever = Retriever(data, embedder, settings, analyzer.expander)
    started = time.perf_counter()
    if retriever.matcher is not None:  # every paper's title line, as the service's warm-up does
        retriever.matcher.title_vectors(list(data.documents))
    sentence_seconds += time.perf_counter() - started
    ids = list(queries)
    vectors = embedder.encode([queries[i] for i in ids], batch_size=settings.batch_size)
    metrics, latency = {}, {}
    for mode in modes:
        run, times = rank_claims(analyzer, retriever, dict(zip(ids, vectors, strict=True)), queries, mode)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = evaluate(Qrels(qrels), Run(run), list(BEIR_METRICS), make_comparable=True)
        metrics[mode] = {name: float(result[name]) for name in BEIR_METRICS}
        latency[mode] = float(np.median(times) * 1000)
    sentences = 0 if data.sentences is None else len(data.sentences)
    return BeirResult(
        directory.name, len(corpus), len(ids), metrics, doc_seconds + sentence_seconds, latency, sentences,
        sentence_seconds,
    )


def rank_claims(
    analyzer: QueryAnalyzer, retriever: Retriever, vectors: dict[str, np.ndarray], queries: dict[str, str], mode: str
) -> tuple[dict[str, dict[str, float]], list[float]]:
    """The top 100 documents of every claim under ``mode`` (a ranx run), and seconds per claim.
    ``vectors``: each claim's vector as written, encoded in one batch."""
    passages = retriever.data.passages
    run, times = {}, []
    for qid, vector in vectors.items():
        started = time.perf_counter()
        query = analyzer.analyze(queries[qid])
        if retriever.needs_vectors(mode):  # the batch's vector is of the claim as written
            query = analyzer.encode(query, vector=vector, tokens=retriever.needs_tokens(mode))
        scores = retriever.run(query, mode=mode, n=100)
        times.append(time.perf_counter() - started)
        run[qid] = {passages[r].chunk_id: scores[r] for r in ranked(scores)[:100]} or {"<none>": 0.0}
    return run, times
