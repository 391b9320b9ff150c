"""Load test of `crps-qa serve --workers N`: 32 clients for 60 s on /search and on /ask, per N.

    python bench/load_test.py --index index                     # workers 1,2; 32 clients; 60 s each
    python bench/load_test.py --index index --workers 1,2,4 --clients 16 --seconds 30

For each worker count, starts the real service on a free loopback port, warms it up, runs the load of
bench_http.py (each client keeps one request in flight, cycling through eval/questions.jsonl) on
GET /search then POST /ask, and reads the resident memory of every server process: RSS, and PSS
(shared pages such as the memory-mapped index counted once across processes). Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_http import ROOT, crps_qa, free_port, load, stop, wait_ready  # noqa: E402


def memory_mb(pid: int) -> dict[str, float | str]:
    """RSS and PSS of one process, in MiB (from /proc), and what it is when not a server process."""
    command = Path(f"/proc/{pid}/cmdline").read_text(errors="replace")
    values: dict[str, float | str] = {"role": "resource tracker" if "resource_tracker" in command else ""}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in {"Rss", "Pss"}:
            values[name.lower()] = int(rest.split()[0]) / 1024
    return values


def server_processes(pid: int) -> list[int]:
    """The server and its worker processes (uvicorn's supervisor has one child per worker)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [pid, *(int(c) for c in children)]


def run(index: Path, workers: int, clients: int, seconds: float, questions: list[str], log: Path) -> dict:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    serve = ["serve", "--host", "127.0.0.1", "--port", str(port), "--index", str(index), "--poll", "0",
             "--workers", str(workers)]
    with log.open("w") as out:
        server = subprocess.Popen(crps_qa(*serve), stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_ready(url, server, log, timeout=600)
        time.sleep(5 * workers)  # the other workers load too; /ready answers as soon as one is up
        for question in questions[: 20 * workers]:  # warm-up, spread over the workers by the kernel
            httpx.get(f"{url}/search", params={"q": question, "k": 5}, timeout=120)
            httpx.post(f"{url}/ask", json={"question": question, "k": 5}, timeout=120)
        rows = {endpoint: asyncio.run(load(url, questions, clients, seconds, 5, "hybrid", endpoint))
                for endpoint in ("search", "ask")}
        memory = {pid: memory_mb(pid) for pid in server_processes(server.pid)}
    finally:
        stop(server, timeout=60)
    return {"workers": workers, "rows": rows, "memory": memory}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, required=True, help="An index folder (crps-qa index).")
    parser.add_argument("--workers", default="1,2", help="Comma-separated worker counts (default 1,2).")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=60.0)
    options = parser.parse_args()
    os.environ.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    questions = [json.loads(line)["question"] for line in (ROOT / "eval/questions.jsonl").open() if line.strip()]
    with tempfile.TemporaryDirectory(prefix="load-test-") as tmp:
        results = [run(options.index, int(w), options.clients, options.seconds, questions, Path(tmp) / f"{w}.log")
                   for w in options.workers.split(",")]
    load_avg = os.getloadavg()
    print(f"{options.clients} clients, {options.seconds:.0f} s per endpoint, hybrid k 5; {os.cpu_count()} CPUs, "
          f"load average {load_avg[0]:.1f} at the end\n")
    print("| workers | endpoint | requests | errors | requests/s | p50 ms | p99 ms |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for result in results:
        for endpoint, row in result["rows"].items():
            print(f"| {result['workers']} | /{endpoint} | {row['requests']} | {row['errors']} | {row['rps']:.1f} | "
                  f"{row['p50']:.0f} | {row['p99']:.0f} |")
    print("\n| workers | process | RSS MiB | PSS MiB |")
    print("|---:|---|---:|---:|")
    for result in results:
        for n, (_pid, mem) in enumerate(result["memory"].items()):
            role = mem["role"] or ("server" if len(result["memory"]) == 1 else
                                   "supervisor" if n == 0 else f"worker {n}")
            print(f"| {result['workers']} | {role} | {mem['rss']:.0f} | {mem['pss']:.0f} |")


if __name__ == "__main__":
    main()
