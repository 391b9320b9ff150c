"""Build and measure crps-qa indexes of 10k, 100k and 1M passages on this machine.

    python bench/scale.py --sizes 10000,100000,1000000 --synthetic-vectors --json
    python bench/scale.py --sizes 10000 --synthetic-vectors          # a table
    python bench/scale.py --sizes 2000                                # real MiniLM vectors (slow: ~30 texts/s)

Text is real and recombined: the sentences of corpus/ (normalized) and of BEIR SciFact
(``--scifact``) are shuffled into documents of 41 sentences, cut into passages of 5 sentences
overlapping by one (10 a document, about 120 words, as ``crps-qa index`` makes them), each with its
sentence spans. BM25 indexes that text. With ``--synthetic-vectors`` the passage vectors are
clustered random unit vectors of dimension 384 (2,000 centres, cosine to a neighbour about 0.3:
harder for an approximate index than real embeddings), and each sentence vector is its passage's
vector plus noise; queries are SciFact claims, encoded by MiniLM for the cost, but the vector
searched is a probe from the passage distribution (a vector plus noise, cosine about 0.7), so dense
search and its recall are measured in-distribution. Without it every vector is MiniLM's.

Each size runs in two subprocesses, so peak RSS is honest: ``build`` (text, vectors, FAISS, BM25,
save) and ``serve`` (load_index, Pipeline, queries, one torch and one FAISS thread). Per query it
times: ``encode`` (MiniLM's pass alone), ``dense`` (encode + FAISS top 100), ``bm25`` (top 100),
``search`` (Pipeline.search, hybrid, k=5, encode included), ``retrieve`` (the same search given the
query vector: the part that grows with the corpus) and ``ask``. Stages that
ran: dense (flat or HNSW by ``exact_search_below``), BM25, fusion, sentence re-scoring, document
prior; ask = that search + extractive answer by sentence cosine. The word-by-word stage (token
vectors) is off at every size here (synthetic vectors have no word pieces; the product-quantized
store takes about 1.9 KB a sentence): its per-query cost does not grow with the corpus (a fixed
``rescore_depth`` passages), see bench_search.py for it on the real corpus. The speller, the
document prior's BM25 and the answerer's term table are counted at build time (index/tables.py,
``tables_build_s``) and read on load; ``--full-open-max N`` turns them and ask off above N passages
(the lean mode of runs made before the tables were stored).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np

SENTENCES_PER_DOC, PASSAGE_SENTENCES, STEP = 41, 5, 4  # 10 passages of 5 sentences, 1 shared
DIMENSION, CENTRES = 384, 2000
ROOT = Path(__file__).resolve().parent.parent


def rss_mb() -> int:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def rss_parts_mb() -> dict[str, int]:
    """Current RSS split into anonymous memory and file-backed pages (memory-mapped vectors and
    index files: shared with the page cache, dropped under memory pressure, re-read on demand)."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return {name: round(int(fields[key].split()[0]) / 1024) for name, key in
            (("rss_anon_mb", "RssAnon"), ("rss_file_mb", "RssFile"))} if "RssAnon" in fields else {}


def sentence_pool(corpus: Path, scifact: Path | None) -> list[str]:
    """Every sentence of the corpus's documents and of SciFact's abstracts, in a fixed order."""
    from crps_qa.evaluate.beir import load_beir, unit_text
    from crps_qa.ingest.chunk import split_sentences
    from crps_qa.ingest.pages import normalize_document
    from crps_qa.ingest.read import ingest_corpus

    texts = [normalize_document(raw).text for raw in ingest_corpus(corpus).documents]
    if scifact is not None:
        texts += [unit_text(d)[0] for d in load_beir(scifact)[0]]
    pool = [" ".join(t[a:b].split()) for t in texts for a, b in split_sentences(t, 0, len(t))]
    return [s for s in pool if len(s.split()) >= 4]


def make_corpus(passages: int, pool: list[str], seed: int = 0):  # noqa: ANN201 - (documents, texts, passages, spans)
    """Documents of shuffled pool sentences, cut into passages: see the module docstring."""
    from crps_qa.types import CleanDocument, DocumentInfo, Passage

    rng = np.random.default_rng(seed)
    per_doc = (SENTENCES_PER_DOC - 1) // STEP
    documents, texts, rows, spans = {}, {}, [], ([], [], [])
    for d in range(-(-passages // per_doc)):
        doc_id = f"d{d:07d}"
        chosen = [pool[i] for i in rng.integers(0, len(pool), SENTENCES_PER_DOC)]
        starts = np.cumsum([0] + [len(s) + 1 for s in chosen[:-1]])
        text = " ".join(chosen)
        texts[doc_id] = CleanDocument(doc_id=doc_id, text=text, page_starts=(0,), sections=())
        documents[doc_id] = DocumentInfo(doc_id=doc_id, title=chosen[0][:80], path=f"{doc_id}.txt")
        for p in range(per_doc):
            if len(rows) == passages:
                break
            first, last = p * STEP, p * STEP + PASSAGE_SENTENCES - 1
            a, b = int(starts[first]), int(starts[last] + len(chosen[last]))
            row = len(rows)
            rows.append(Passage(chunk_id=f"{doc_id}:{p}", doc_id=doc_id, text=text[a:b], char_start=a, char_end=b))
            for s in range(first, last + 1):
                for column, value in zip(spans, (row, int(starts[s]), int(starts[s] + len(chosen[s]))), strict=True):
                    column.append(value)
    return documents, texts, rows, tuple(np.asarray(c, dtype=np.int64) for c in spans)


def synthetic_vectors(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((CENTRES, DIMENSION)).astype(np.float32)
    out = np.empty((n, DIMENSION), dtype=np.float32)
    for start in range(0, n, 100_000):  # in slices: no float64 temporaries of the whole array
        m = min(100_000, n - start)
        block = centres[rng.integers(0, CENTRES, m)] + 1.2 * rng.standard_normal((m, DIMENSION), dtype=np.float32)
        out[start : start + m] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def near(vectors: np.ndarray, rows: np.ndarray, scale: float, seed: int, path: Path | None = None) -> np.ndarray:
    """Unit vectors near ``vectors[rows]`` (noise of norm ``scale``), in slices; written to a
    memory-mapped .npy at ``path`` when given (5M sentence vectors are 7.7 GB)."""
    rng = np.random.default_rng(seed)
    shape = (len(rows), vectors.shape[1])
    out = (np.empty(shape, dtype=np.float32) if path is None
           else np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=shape))
    for start in range(0, len(rows), 200_000):
        base = vectors[rows[start : start + 200_000]]
        noise = rng.standard_normal(base.shape, dtype=np.float32)
        noise *= scale / np.linalg.norm(noise, axis=1, keepdims=True)
        base += noise
        out[start : start + len(base)] = base / np.linalg.norm(base, axis=1, keepdims=True)
    return out


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def build_stage(size: int, work: Path, synthetic: bool, scifact: Path | None) -> dict:
    from crps_qa.index.ann import build_dense
    from crps_qa.index.embed import load_embedder
    from crps_qa.index.lexical import Bm25Index
    from crps_qa.index.manifest import FORMAT_VERSION, current_build
    from crps_qa.index.store import IndexData, SentenceTable, save_index
    from crps_qa.index.tables import CorpusTables
    from crps_qa.settings import Settings

    settings = Settings(index_dir=work / "index", model="all-MiniLM-L6-v2")
    made = time.perf_counter()
    documents, texts, passages, (rows, starts, ends) = make_corpus(size, sentence_pool(ROOT / "corpus", scifact))
    text_s = time.perf_counter() - made
    started = time.perf_counter()
    if synthetic:
        vectors = synthetic_vectors(len(passages), seed=size)
        work.mkdir(parents=True, exist_ok=True)
        sentence_vectors = near(vectors, rows, 1.0, seed=size + 1, path=work / "sentence_vectors.tmp.npy")
        embed_s = 0.0
    else:
        embedder = load_embedder(settings.model)
        began = time.perf_counter()
        vectors = embedder.encode([p.text for p in passages], batch_size=settings.batch_size)
        sentence_vectors = embedder.encode([texts[passages[r].doc_id].text[a:b] for r, a, b in
                                            zip(rows, starts, ends, strict=True)], batch_size=settings.batch_size)
        embed_s = time.perf_counter() - began
    vectors_s = time.perf_counter() - started
    began = time.perf_counter()
    dense, report = build_dense(vectors, exact_below=settings.exact_search_below)
    dense_s = time.perf_counter() - began
    began = time.perf_counter()
    bm25 = Bm25Index.build([p.text for p in passages])
    bm25_s = time.perf_counter() - began
    manifest = {
        "format_version": FORMAT_VERSION, "build_id": f"scale-{size}", "model": settings.model,
        "dimension": DIMENSION, "counts": {"documents": len(documents), "passages": len(passages),
                                           "sentences": len(rows)},
        "dense": report.to_dict(), "synthetic_vectors": synthetic,
    }
    data = IndexData(manifest, documents, texts, passages, vectors, dense, bm25,
                     sentences=SentenceTable(rows, starts, ends, sentence_vectors))
    began = time.perf_counter()
    data.tables = CorpusTables.build(data)  # what `crps-qa index` stores for the query side (index/tables.py)
    tables_s = time.perf_counter() - began
    began = time.perf_counter()
    save_index(data, settings.index_dir)
    save_s = time.perf_counter() - began
    (work / "sentence_vectors.tmp.npy").unlink(missing_ok=True)
    build = current_build(settings.index_dir)
    return {
        "passages": len(passages), "documents": len(documents), "sentences": len(rows),
        "index_type": report.index_type, "ef_search": report.params.get("ef_search"),
        "nprobe": report.params.get("nprobe"), "nlist": report.params.get("nlist"),
        "manifest_recall_at_10": report.recall_at_10, "synthetic_vectors": synthetic,
        "build_s": round(embed_s + dense_s + bm25_s + tables_s + save_s, 1), "embed_s": round(embed_s, 1),
        "tables_build_s": round(tables_s, 1),
        "dense_build_s": round(dense_s, 1), "bm25_build_s": round(bm25_s, 1), "save_s": round(save_s, 1),
        "text_s": round(text_s, 1), "synthetic_vectors_s": round(vectors_s - embed_s, 1),
        "bytes_per_passage": round(folder_bytes(build) / len(passages)),
        "bm25_bytes_per_passage": round(folder_bytes(build / "bm25") / len(passages)),
        "build_peak_rss_mb": rss_mb(),
    }


class ProbeQueries:
    """MiniLM encodes each query (its real cost); the vector returned is the query's synthetic
    probe from the passage distribution (see the module docstring). Not a token encoder."""

    def __init__(self, embedder, probes: dict[str, np.ndarray]) -> None:  # noqa: ANN001 - an Embedder
        self._embedder, self._probes = embedder, probes
        self.name, self.dimension = embedder.name, embedder.dimension

    def encode(self, texts, *, batch_size: int = 32, progress: bool = False) -> np.ndarray:  # noqa: ANN001
        self._embedder.encode(texts, batch_size=batch_size)
        return np.stack([self.probe(t) for t in texts])

    def probe(self, text: str) -> np.ndarray:
        """The text's vector without the model's pass (a query the speller changed has no probe
        of its own: it takes one by a hash of its text)."""
        if text in self._probes:
            return self._probes[text]
        fallback = list(self._probes.values())
        return fallback[zlib.crc32(text.encode()) % len(fallback)]


def serve_stage(work: Path, synthetic: bool, queries: list[str], full: bool) -> dict:
    import faiss
    import torch

    from crps_qa.index import ann
    from crps_qa.index.embed import SentenceTransformerEmbedder, load_embedder
    from crps_qa.index.store import load_index
    from crps_qa.pipeline import Pipeline
    from crps_qa.settings import Settings

    torch.set_num_threads(1)
    faiss.omp_set_num_threads(1)
    # lean (not full): the parts Retriever and Answerer build from every text when they open
    # (speller, document BM25, answer term statistics) are off, and ask is not timed
    lean = {} if full else {"spelling_correction": False, "doc_weight": 0.0}
    settings = Settings(index_dir=work / "index", model="all-MiniLM-L6-v2", match_weight=0.0, **lean)
    model = load_embedder(settings.model, threads=1)  # the default int8 ONNX encoder, one thread a query
    model_rss = rss_mb()
    began, cpu = time.perf_counter(), time.process_time()
    data = load_index(settings.index_dir, model=settings.model, dimension=DIMENSION)
    load_s, load_cpu_s = time.perf_counter() - began, time.process_time() - cpu
    load_rss = rss_mb()
    if synthetic:
        rows = np.random.default_rng(7).integers(0, len(data.passages), len(queries))
        probes = near(data.vectors, rows, 1.0, seed=8)
    else:
        probes = model.encode(queries)
    embedder = ProbeQueries(model, dict(zip(queries, probes, strict=True)))
    assert not isinstance(embedder, SentenceTransformerEmbedder)
    began, cpu = time.perf_counter(), time.process_time()
    pipeline = Pipeline(settings, embedder, data)
    if full:
        pipeline.warm()  # the answering tables (term IDF, vocabulary), as the service does at load
    open_s, open_cpu_s = time.perf_counter() - began, time.process_time() - cpu
    open_rss = rss_mb()
    timings: dict[str, list[float]] = {"search": [], "ask": [], "dense": [], "bm25": [], "encode": [],
                                       "retrieve": []}
    cpu_ms: dict[str, list[float]] = {name: [] for name in timings}  # CPU time: what a busy machine inflates least
    retriever, analyzer = pipeline.retriever, pipeline.analyzer

    def vector_only(q: str, vector: np.ndarray | None = None):  # noqa: ANN202 - a Query
        return analyzer.encode(analyzer.analyze(q), joint=False, tokens=False, vector=vector)
    for query in queries:
        for name, call in (("encode", lambda q=query: model.encode([q])),
                           ("dense", lambda q=query: retriever.run(vector_only(q), mode="dense", n=100)),
                           ("bm25", lambda q=query: retriever.run(analyzer.analyze(q), mode="bm25", n=100)),
                           # the hybrid search without the model's pass (its vector given): what grows with N
                           ("retrieve", lambda q=query: retriever.search(vector_only(q, embedder.probe(q)), k=5)),
                           ("search", lambda q=query: pipeline.search(q, k=5)),
                           ("ask", lambda q=query: pipeline.ask(q, k=5) if full else None)):
            began, cpu = time.perf_counter(), time.thread_time()
            call()
            timings[name].append((time.perf_counter() - began) * 1000)
            cpu_ms[name].append((time.thread_time() - cpu) * 1000)
    stats = {}
    for name, ms in timings.items() if full else [(n, t) for n, t in timings.items() if n != "ask"]:
        warm = np.asarray(ms[1:] or ms)  # the first query pays for lazily built tables
        stats[f"{name}_p50_ms"] = round(float(np.percentile(warm, 50)), 2)
        stats[f"{name}_p95_ms"] = round(float(np.percentile(warm, 95)), 2)
        stats[f"{name}_cpu_p50_ms"] = round(float(np.percentile(np.asarray(cpu_ms[name][1:] or cpu_ms[name]), 50)), 2)
    stats["first_search_ms"] = round(timings["search"][0], 1)
    serving_rss, parts = rss_mb(), rss_parts_mb()  # peak while loading, opening and answering
    # measured last: the exact search reads every (memory-mapped) passage vector, which no
    # serving process does, and would set the high-water mark of RSS
    exact = ann.exact_top(data.vectors, probes, 10)
    recall = ann.recall_at(ann.search(data.dense, probes, 10)[1], exact)
    stages = "dense, bm25, fusion, sentence re-scoring" + (", spelling, document prior; ask" if full else "")
    return {"load_s": round(load_s, 2), "load_cpu_s": round(load_cpu_s, 2), "open_s": round(open_s, 2),
            "open_cpu_s": round(open_cpu_s, 2), "recall_at_10_vs_exact": round(recall, 4),
            "queries": len(queries), "model_rss_mb": model_rss, "load_rss_mb": load_rss, "open_rss_mb": open_rss,
            "peak_rss_mb": serving_rss, **parts, "peak_rss_with_exact_check_mb": rss_mb(), "stages": stages,
            **stats}


def run_stage(stage: str, size: int, work: Path, options: argparse.Namespace) -> dict:
    command = [sys.executable, __file__, "--stage", stage, "--sizes", str(size), "--work", str(work),
               "--queries", str(options.queries)]
    command += ["--synthetic-vectors"] if options.synthetic_vectors else []
    command += ["--scifact", str(options.scifact)] if options.scifact else []
    command += ["--full-open-max", str(options.full_open_max)]
    out = subprocess.run(command, check=True, capture_output=True, text=True, env={**os.environ})
    return json.loads(out.stdout.strip().splitlines()[-1])


def questions(scifact: Path | None, count: int) -> list[str]:
    if scifact is None:
        return [line.strip() for line in (ROOT / "eval" / "questions.txt").read_text().splitlines()][:count]
    with open(scifact / "queries.jsonl", encoding="utf-8") as lines:
        return list(dict.fromkeys(json.loads(line)["text"] for line in lines))[:count]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000", help="passages per level, comma-separated")
    parser.add_argument("--synthetic-vectors", action="store_true", help="clustered random unit vectors")
    parser.add_argument("--json", action="store_true", help="one JSON object per size")
    parser.add_argument("--queries", type=int, default=200, help="queries timed per size")
    parser.add_argument("--scifact", type=Path, default=Path("/work/shared/bench/scifact"), help="BEIR SciFact folder")
    parser.add_argument("--work", type=Path, default=Path("/tmp/crps-qa-scale"), help="where indexes are built")
    parser.add_argument("--keep", action="store_true", help="keep each size's index folder")
    parser.add_argument("--full-open-max", type=int, default=10**9,
                        help="above this many passages serve lean: no speller, document prior or ask (their "
                             "tables are built from every text at open: minutes per 100k passages)")
    parser.add_argument("--stage", choices=["build", "serve"], help=argparse.SUPPRESS)
    options = parser.parse_args()
    sizes = [int(s) for s in options.sizes.split(",")]
    if options.stage == "build":
        print(json.dumps(build_stage(sizes[0], options.work, options.synthetic_vectors, options.scifact)))
        return
    if options.stage == "serve":
        print(json.dumps(serve_stage(options.work, options.synthetic_vectors,
                                     questions(options.scifact, options.queries), sizes[0] <= options.full_open_max)))
        return
    load = os.getloadavg()[0]
    results = []
    for size in sizes:
        work = options.work / str(size)
        subprocess.run(["rm", "-rf", str(work)], check=True)
        result = {**run_stage("build", size, work, options), **run_stage("serve", size, work, options),
                  "load_average": round(load, 1), "cpus": os.cpu_count()}
        load = os.getloadavg()[0]
        results.append(result)
        if options.json:
            print(json.dumps(result), flush=True)
        if not options.keep:
            subprocess.run(["rm", "-rf", str(work)], check=True)
    if not options.json:
        keys = ("passages", "index_type", "synthetic_vectors", "build_s", "bytes_per_passage", "build_peak_rss_mb",
                "peak_rss_mb", "load_s", "open_s", "search_p50_ms", "search_p95_ms", "retrieve_p50_ms",
                "retrieve_p95_ms", "encode_p50_ms", "ask_p50_ms", "ask_p95_ms", "bm25_p50_ms", "dense_p50_ms",
                "recall_at_10_vs_exact", "load_average")
        print("| " + " | ".join(keys) + " |\n|" + "---|" * len(keys))
        for result in results:
            print("| " + " | ".join(str(result.get(k, "-")) for k in keys) + " |")


if __name__ == "__main__":
    main()
