"""Ray ingest against a single-process build, in the same run: passages/s per worker and RSS per
worker (issue 15). Runs only inside scripts/ray_sandbox.sh (loopback-only namespace, Ray's safe
settings, every Ray process stopped at the end):

    PYTHON=.venv/bin/python sh scripts/ray_sandbox.sh .venv/bin/python bench/ray_ingest.py --corpus corpus

Builds the corpus in this process (torch's default threads, then one thread; model load included)
and on a local Ray cluster of ``--nodes`` nodes (1 CPU each; one encoder actor per node, model loads
included), each from scratch, and samples the resident memory of every process of the namespace
twice a second. Prints markdown tables. The actors run ``embed_threads`` threads (0: every core,
as a local build, which makes the index bit for bit the local one; CRPS_QA_EMBED_THREADS=1: one
per actor, for the per-worker rate when the nodes share one machine's cores).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

import torch  # noqa: E402

from crps_qa.index.build import build  # noqa: E402
from crps_qa.index.embed import embedder_for  # noqa: E402
from crps_qa.index.ray_build import build_on_ray  # noqa: E402
from crps_qa.settings import Settings  # noqa: E402
from ray_cluster import start_cluster  # noqa: E402 - tests/ray_cluster.py, the test's 2-node cluster


class RssSampler(threading.Thread):
    """Peak RSS (MiB) of every process of this PID namespace, by process title."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak: dict[int, tuple[str, float]] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.5):
            for pid in filter(str.isdigit, os.listdir("/proc")):
                try:
                    title = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
                    rss = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                               if line.startswith("VmRSS:")) / 1024
                except (OSError, StopIteration):
                    continue
                before = self.peak.get(int(pid), ("", 0.0))[1]
                if rss >= before:
                    self.peak[int(pid)] = (title, rss)


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip().split("load average: ")[-1]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", type=Path, default=REPO / "corpus")
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--backend", default="torch")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ray-ingest-"))
    rows = []
    try:
        for threads in (torch.get_num_threads(), 1):
            torch.set_num_threads(threads)
            settings = Settings(corpus_dir=args.corpus, index_dir=work / f"local{threads}", embed_backend=args.backend)
            load = uptime()
            started = time.perf_counter()
            report = build(settings, embedder_for(settings), rebuild=True)
            rows.append((f"single process, {threads} thread(s)", 1, report, time.perf_counter() - started, load,
                         uptime()))
        local_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

        address = start_cluster(args.nodes)
        sampler = RssSampler()
        sampler.start()
        settings = Settings(corpus_dir=args.corpus, index_dir=work / "ray", embed_backend=args.backend)
        load = uptime()
        started = time.perf_counter()
        report = build_on_ray(settings, address=address, rebuild=True,
                              progress=lambda line: print(line, file=sys.stderr, flush=True))
        rows.append((f"Ray, {args.nodes} nodes", args.nodes, report, time.perf_counter() - started, load, uptime()))
        sampler.stop.set()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"corpus {args.corpus.name}: {rows[0][2].documents} documents, {rows[0][2].passages} passages; "
          f"backend {args.backend}; {os.cpu_count()} CPUs\n")
    print("| build | workers | wall s (model loads included) | texts encoded | passages/s | passages/s per worker "
          "| load average before → after |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for name, workers, report, seconds, before, after in rows:
        texts = report.embedded + report.sentences_embedded + report.tokens_encoded
        rate = report.passages / seconds
        print(f"| {name} | {workers} | {seconds:.1f} | {texts} | {rate:.2f} | {rate / workers:.2f} "
              f"| {before} → {after} |")
    print("\n| process | peak RSS MiB |\n|---|---:|")
    print(f"| single-process build (this process, before Ray started) | {local_rss:.0f} |")
    for _pid, (title, rss) in sorted(sampler.peak.items(), key=lambda item: item[1][0]):
        if title.startswith("ray::") and "IDLE" not in title or rss > 100:
            print(f"| {title[:60]} | {rss:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
