"""In-process benchmark: index build, model and index load, query latency per mode, memory.

    python bench/bench_search.py                      # real model, corpus/ indexed into a temp dir
    python bench/bench_search.py --repeats 5 --threads 0 --json

Indexes the corpus into a temporary folder with the real model (all-MiniLM-L6-v2, offline):
``--repeats`` full rebuilds (median time, passages/s, sentences/s), then as many incremental
re-indexes of the unchanged corpus (every vector should be reused). Then opens the index
(``Pipeline.open``) and times single-threaded queries per mode (dense, bm25, hybrid) and
``Pipeline.ask``, cycling ``--passes`` times through the questions of eval/questions.jsonl, the
modes interleaved per question so that load changes on a shared machine hit every mode alike.
Bounded: at most ``--max-queries`` per mode and ``--max-seconds`` for the whole query phase.
Peak memory is ``ru_maxrss`` (a high-water mark, so it only grows). Prints a Markdown table,
or JSON with ``--json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from crps_qa.index.build import build
from crps_qa.index.embed import Embedder
from crps_qa.index.manifest import current_build, read_manifest
from crps_qa.pipeline import Pipeline
from crps_qa.query.spelling import Speller
from crps_qa.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
MODES = ("dense", "bm25", "hybrid", "ask")  # "ask" = Pipeline.ask (hybrid search + sentence answer)


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (ru_maxrss is KiB on Linux)."""
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib / 1024 if sys.platform != "darwin" else kib / 2**20


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def load_questions(path: Path) -> list[str]:
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line)["question"] for line in lines if line.strip()]


def _ms_stats(seconds: Sequence[float]) -> dict[str, float]:
    ms = np.asarray(seconds, dtype=float) * 1000
    if not len(ms):
        return {"p50": float("nan"), "p95": float("nan"), "mean": float("nan")}
    p50, p95 = np.percentile(ms, [50, 95])
    return {"p50": float(p50), "p95": float(p95), "mean": float(ms.mean())}


def measure(
    settings: Settings,
    embedder: Embedder,
    questions: Sequence[str],
    *,
    repeats: int = 3,
    passes: int = 2,
    max_queries: int = 250,
    max_seconds: float = 600.0,
    k: int = 5,
    warmup: int = 3,
    typos: Sequence[str] = (),
) -> dict[str, Any]:
    """Build ``settings.corpus_dir`` into ``settings.index_dir`` and time everything; returns a dict.
    ``typos``: the questions with typing errors, for timing the typo correction.

    ``embedder`` must already be loaded (its load time is the caller's to measure)."""
    if repeats < 1 or passes < 1 or not questions:
        raise ValueError("repeats and passes must be >= 1 and questions must not be empty")
    result: dict[str, Any] = {"rss_mb": {"before_build": peak_rss_mb()}}

    full = [build(settings, embedder, rebuild=True) for _ in range(repeats)]
    full_s = [r.seconds for r in full]
    incremental = [build(settings, embedder) for _ in range(repeats)]
    result["rss_mb"]["after_build"] = peak_rss_mb()

    manifest = read_manifest(settings.index_dir)
    counts = manifest["counts"]
    last = full[-1]
    build_median = statistics.median(full_s)
    incremental_median = statistics.median(r.seconds for r in incremental)
    result["index"] = {
        "documents": last.documents,
        "passages": last.passages,
        "sentences": counts["sentences"],
        "passages_embedded": last.embedded,  # distinct passage texts (identical ones share a vector)
        "sentences_embedded": last.sentences_embedded,  # distinct sentence texts not already cached
        "build_s": full_s,
        "build_median_s": build_median,
        "passages_per_s": last.passages / build_median,
        "sentences_per_s": counts["sentences"] / build_median,
        "texts_embedded_per_s": (last.embedded + last.sentences_embedded) / build_median,
        "incremental_s": [r.seconds for r in incremental],
        "incremental_median_s": incremental_median,
        "incremental_embedded": max(r.embedded + r.sentences_embedded for r in incremental),
        "incremental_reused": min(r.reused for r in incremental),
        "incremental_to_full": incremental_median / build_median,
        "size_bytes": folder_bytes(current_build(settings.index_dir)),
    }

    started = time.perf_counter()
    pipeline = Pipeline.open(settings, embedder=embedder)
    result["index_load_s"] = time.perf_counter() - started

    def run(mode: str, question: str) -> None:
        if mode == "ask":
            pipeline.ask(question, k=k)
        else:
            pipeline.search(question, k=k, mode=mode)

    # Warm-up (first calls pay for lazy set-up, e.g. the answerer's term statistics): timed apart.
    cold: dict[str, float] = {}
    for mode in MODES:
        for i, question in enumerate(list(questions)[: max(warmup, 1)]):
            t0 = time.perf_counter()
            run(mode, question)
            if i == 0:
                cold[mode] = (time.perf_counter() - t0) * 1000

    wall: dict[str, list[float]] = {mode: [] for mode in MODES}
    cpu: dict[str, list[float]] = {mode: [] for mode in MODES}
    schedule = [(n, q) for n in range(passes) for q in questions][:max_queries]
    passes_of: list[int] = []  # pass number of each timed query
    deadline = time.perf_counter() + max_seconds
    stopped_early = False
    for n, question in schedule:
        if time.perf_counter() > deadline:
            stopped_early = True
            break
        passes_of.append(n)
        for mode in MODES:
            c0, t0 = time.process_time(), time.perf_counter()
            run(mode, question)
            wall[mode].append(time.perf_counter() - t0)
            cpu[mode].append(time.process_time() - c0)
    result["rss_mb"]["after_queries"] = peak_rss_mb()

    queries: dict[str, Any] = {}
    for mode in MODES:
        queries[mode] = {
            "n": len(wall[mode]),
            "cold_ms": cold[mode],
            **_ms_stats(wall[mode]),
            "cpu_p50": _ms_stats(cpu[mode])["p50"],
            # Per pass: later passes show what warms up (ask caches the sentence vectors it encodes).
            "by_pass": [
                _ms_stats([s for s, p in zip(wall[mode], passes_of, strict=True) if p == n])
                for n in sorted(set(passes_of))
            ],
        }
    hybrid = queries["hybrid"]["p50"]
    for mode in MODES:
        queries[mode]["p50_vs_hybrid"] = queries[mode]["p50"] / hybrid if hybrid else float("nan")
    result["queries"] = queries

    # typo correction alone: building its word table (once per index load), and per question
    started = time.perf_counter()
    Speller.build((t.text for t in pipeline.data.texts.values()), pipeline.data.expansions)
    spelling: dict[str, Any] = {"build_ms": (time.perf_counter() - started) * 1000}
    for name, batch in (("clean", questions), ("typos", typos)):
        seconds, corrected = [], 0
        for question in batch:
            t0 = time.perf_counter()
            corrected += bool(pipeline.analyzer.correct(question)[1])
            seconds.append(time.perf_counter() - t0)
        if seconds:
            spelling[name] = {**_ms_stats(seconds), "n": len(seconds), "corrected": corrected}
    result["spelling"] = spelling
    result["query_setup"] = {
        "k": k, "passes": passes, "distinct_questions": len(set(questions)), "stopped_early": stopped_early,
    }
    return result


def render(result: dict[str, Any]) -> str:
    """The result of :func:`measure` (plus the caller's model-load keys) as a Markdown table."""
    ix, q, rss = result["index"], result["queries"], result["rss_mb"]
    n = len(ix["build_s"])
    rows = [
        ("model load", f"{result['model_load_s']:.2f} s" if "model_load_s" in result else "n/a (given)"),
        (
            f"full index build (median of {n})",
            f"{ix['build_median_s']:.2f} s (runs: {', '.join(f'{s:.2f}' for s in ix['build_s'])})",
        ),
        (
            "build throughput",
            f"{ix['passages_per_s']:.1f} passages/s, {ix['sentences_per_s']:.1f} sentences/s "
            f"({ix['passages']} passages, {ix['sentences']} sentences; "
            f"{ix['passages_embedded'] + ix['sentences_embedded']} distinct texts embedded, "
            f"{ix['texts_embedded_per_s']:.1f}/s)",
        ),
        (
            f"incremental re-index, unchanged corpus (median of {n})",
            f"{ix['incremental_median_s']:.2f} s = {ix['incremental_to_full']:.2f} x full; "
            f"{ix['incremental_embedded']} texts embedded, {ix['incremental_reused']}/{ix['passages']} "
            "passage vectors reused",
        ),
        ("index load (Pipeline.open, model given)", f"{result['index_load_s'] * 1000:.0f} ms"),
        ("index size on disk", f"{ix['size_bytes'] / 2**20:.2f} MiB"),
    ]
    for mode in MODES:
        s = q[mode]
        label = "ask (Pipeline.ask, hybrid)" if mode == "ask" else f"search {mode}"
        rows.append((
            f"{label}: p50 / p95 ({s['n']} queries)",
            f"{s['p50']:.1f} / {s['p95']:.1f} ms (CPU p50 {s['cpu_p50']:.1f} ms; "
            f"{s['p50_vs_hybrid']:.2f} x hybrid p50; first call {s['cold_ms']:.0f} ms"
            + (
                "; p50 / p95 by pass: " + ", ".join(f"{b['p50']:.1f} / {b['p95']:.1f}" for b in s["by_pass"])
                if len(s["by_pass"]) > 1 and mode == "ask" else ""
            )
            + ")",
        ))
    peaks = [("start", "at start (imports)"), ("after_model", "after model load"),
             ("before_build", "before index builds"), ("after_build", "after index builds"),
             ("after_queries", "after queries")]
    if "after_model" in rss:  # the caller measured the model load: before_build only repeats it
        peaks = [peak for peak in peaks if peak[0] != "before_build"]
    rows += [(f"peak RSS {label}", f"{rss[key]:.0f} MiB") for key, label in peaks if key in rss]
    spelling = result.get("spelling", {})
    if spelling:
        per = "; ".join(f"{name} questions p50 / p95 {spelling[name]['p50']:.2f} / {spelling[name]['p95']:.2f} ms "
                        f"({spelling[name]['corrected']} of {spelling[name]['n']} corrected)"
                        for name in ("clean", "typos") if name in spelling)
        rows.append(("typo correction", f"word table built in {spelling['build_ms']:.0f} ms; {per}"))
    lines = ["| measure | value |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in rows]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--corpus", type=Path, default=ROOT / "corpus", help="Corpus folder.")
    parser.add_argument("--questions", type=Path, default=ROOT / "eval/questions.jsonl")
    parser.add_argument("--typos", type=Path, default=ROOT / "eval/typos.jsonl",
                        help="The questions with typing errors (typo-correction timing).")
    parser.add_argument("--repeats", type=int, default=3, help="Full and incremental builds (median).")
    parser.add_argument("--passes", type=int, default=2, help="Passes over the questions per mode.")
    parser.add_argument("--max-queries", type=int, default=250, help="Cap on timed queries per mode.")
    parser.add_argument("--max-seconds", type=float, default=600, help="Cap on the timed query phase.")
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (0 = torch's default).")
    parser.add_argument("--json", action="store_true", help="Print JSON instead of Markdown.")
    options = parser.parse_args(argv)

    os.environ.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    questions = load_questions(options.questions)
    load_before = os.getloadavg()
    rss_start = peak_rss_mb()

    import torch

    if options.threads > 0:
        torch.set_num_threads(options.threads)
    from crps_qa.index.embed import load_embedder

    started = time.perf_counter()
    embedder = load_embedder(Settings().model)
    model_load_s = time.perf_counter() - started
    rss_after_model = peak_rss_mb()

    with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp:
        settings = Settings(corpus_dir=options.corpus, index_dir=Path(tmp) / "index")
        print(f"indexing {options.corpus} into {settings.index_dir} ...", file=sys.stderr)
        result = measure(
            settings, embedder, questions, repeats=options.repeats, passes=options.passes,
            max_queries=options.max_queries, max_seconds=options.max_seconds, k=options.k,
            typos=load_questions(options.typos) if options.typos.exists() else (),
        )
    result["model"] = embedder.name
    result["model_load_s"] = model_load_s
    result["rss_mb"] = {"start": rss_start, "after_model": rss_after_model, **result["rss_mb"]}
    result["machine"] = {
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "torch_threads": torch.get_num_threads(),
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
    }
    result["date"] = datetime.now(UTC).isoformat(timespec="seconds")
    if options.json:
        print(json.dumps(result, indent=2))
        return
    m, setup = result["machine"], result["query_setup"]
    print(
        f"{result['date']}: model {result['model']}, corpus {options.corpus.name}/ "
        f"({result['index']['documents']} documents); {m['cpus']} CPUs, torch threads {m['torch_threads']}; "
        f"k {setup['k']}, {setup['distinct_questions']} distinct questions x {setup['passes']} passes"
        f"{' (stopped early at --max-seconds)' if setup['stopped_early'] else ''}; "
        f"load average {m['loadavg_before'][0]:.2f} before, {m['loadavg_after'][0]:.2f} after\n"
    )
    print(render(result))


if __name__ == "__main__":
    main()
