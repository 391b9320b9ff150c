"""HTTP benchmark: /search or /ask latency (p50, p99) and throughput at several concurrency levels.

    python bench/bench_http.py                       # index corpus/ into a temp dir, 20 s per level
    python bench/bench_http.py --index index --seconds 10 --concurrency 1,4,16
    python bench/bench_http.py --endpoint ask        # POST /ask (search + cited answer) instead

Starts the real service (`crps-qa serve`, real model) on a free loopback port, warms it up, then
for each concurrency level keeps that many requests in flight for a fixed time, cycling through the
questions of eval/questions.jsonl. Prints a Markdown table; stops the server by PID when done.
The client runs on the same machine and takes a little of its CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def crps_qa(*args: str) -> list[str]:
    return [sys.executable, "-m", "crps_qa.cli", *args]


def wait_ready(url: str, process: subprocess.Popen, log: Path, timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"the server exited:\n{log.read_text()[-2000:]}")
        try:
            response = httpx.get(f"{url}/ready", timeout=5)
            if response.status_code == 200:
                return response.json()
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    sys.exit(f"the server was not ready after {timeout:.0f} s; see {log}")


def stop(server: subprocess.Popen, *, timeout: float) -> None:
    """SIGTERM the server, then SIGKILL it if it has not exited within ``timeout`` seconds."""
    os.kill(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.kill(server.pid, signal.SIGKILL)
        server.wait()


async def call(client: httpx.AsyncClient, endpoint: str, question: str, k: int, mode: str) -> httpx.Response:
    """One request: GET /search, or POST /ask."""
    if endpoint == "ask":
        return await client.post("/ask", json={"question": question, "k": k, "mode": mode})
    return await client.get("/search", params={"q": question, "k": k, "mode": mode})


async def load(
    url: str, questions: list[str], concurrency: int, seconds: float, k: int, mode: str, endpoint: str = "search"
) -> dict:
    """Keep ``concurrency`` requests in flight for ``seconds``; latencies in ms and error count."""
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:

        async def worker(offset: int) -> None:
            nonlocal errors
            i = offset
            while time.perf_counter() < deadline:
                question = questions[i % len(questions)]
                i += concurrency
                started = time.perf_counter()
                try:
                    response = await call(client, endpoint, question, k, mode)
                    ok = response.status_code == 200
                except httpx.HTTPError:
                    ok = False
                if ok:
                    latencies.append((time.perf_counter() - started) * 1000)
                else:
                    errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker(n) for n in range(concurrency)))
        elapsed = time.perf_counter() - started
    ms = np.asarray(latencies)
    return {
        "concurrency": concurrency,
        "requests": len(ms),
        "errors": errors,
        "rps": len(ms) / elapsed,
        "p50": float(np.percentile(ms, 50)) if len(ms) else float("nan"),
        "p99": float(np.percentile(ms, 99)) if len(ms) else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--index", type=Path, help="Existing index folder (default: index corpus/ into a temp dir)."
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="Duration of each concurrency level.")
    parser.add_argument("--concurrency", default="1,16", help="Comma-separated levels (default 1,16).")
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--mode", default="hybrid")
    parser.add_argument("--endpoint", choices=("search", "ask"), default="search",
                        help="GET /search (default) or POST /ask (search plus a cited answer).")
    parser.add_argument(
        "--threads", type=int, default=1, help="crps-qa serve --threads (0 = torch's default)."
    )
    options = parser.parse_args()

    os.environ.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    questions = [
        json.loads(line)["question"] for line in (ROOT / "eval/questions.jsonl").open() if line.strip()
    ]
    with tempfile.TemporaryDirectory(prefix="bench-http-") as tmp:
        index = options.index
        if index is None:
            index = Path(tmp) / "index"
            print(f"indexing {ROOT / 'corpus'} into {index} ...", file=sys.stderr)
            subprocess.run(
                crps_qa("index", "--corpus", str(ROOT / "corpus"), "--index", str(index)), check=True
            )
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log = Path(tmp) / "server.log"
        serve = ["serve", "--host", "127.0.0.1", "--port", str(port), "--index", str(index)]
        serve += ["--poll", "0", "--threads", str(options.threads)]
        with log.open("w") as out:
            server = subprocess.Popen(crps_qa(*serve), stdout=out, stderr=subprocess.STDOUT)
        try:
            ready = wait_ready(url, server, log)
            deadline = time.monotonic() + 300  # the service encodes the sentences' token vectors on load
            while not httpx.get(f"{url}/ready", timeout=10).json().get("warmed") and time.monotonic() < deadline:
                time.sleep(0.5)
            for question in questions[:20]:  # warm-up: first calls pay for lazy initialisation
                if options.endpoint == "ask":
                    httpx.post(f"{url}/ask", json={"question": question, "k": options.k}, timeout=60)
                else:
                    httpx.get(f"{url}/search", params={"q": question, "k": options.k}, timeout=60)
            levels = [int(c) for c in options.concurrency.split(",")]
            rows = [
                asyncio.run(load(url, questions, c, options.seconds, options.k, options.mode, options.endpoint))
                for c in levels
            ]
        finally:
            stop(server, timeout=30)

    print(
        f"{'POST /ask' if options.endpoint == 'ask' else 'GET /search'}, mode {options.mode}, k {options.k}: "
        f"{ready['documents']} documents, "
        f"{ready['passages']} passages, model {ready['model']}; {os.cpu_count()} CPUs, "
        f"serve --threads {options.threads}, {options.seconds:.0f} s per level, "
        f"{len(questions)} distinct questions\n"
    )
    print("| concurrency | requests | errors | requests/s | p50 ms | p99 ms |")
    print("|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['concurrency']} | {row['requests']} | {row['errors']} | {row['rps']:.1f} | "
            f"{row['p50']:.1f} | {row['p99']:.1f} |"
        )


if __name__ == "__main__":
    main()
