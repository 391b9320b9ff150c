"""kill -9 a `crps-qa index` build at random moments; the previous index must always load, and the
final, resumed build must equal an uninterrupted one (same passages, same vectors).

    python bench/kill_resume.py --passages 100000 --kills 5 --json

The corpus is real text recombined (bench/scale.py's sentence pool) into .txt files of 41
sentences (about 10 passages each). The embedder is a hash of the text turned into a unit vector
(deterministic across processes, no model: the point is the build machinery, not the encoder); it
has no token vectors, so no token table is built, and the dense index is exact (random vectors are
the worst case for HNSW, and the index type is not what is tested). Steps: index the first 5 % of the files
(the "previous" index), then index all of them, killing the build process with SIGKILL at a
random moment (uniform between 10 % and 90 % of what the run has left, estimated from one
uninterrupted build's duration, measured first into another folder, and the batches committed)
five times, checking after each kill that an index loads
(the previous one, or the new one when the kill came after it was published); then let the last
run finish and compare it with the uninterrupted build.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

DIMENSION = 384


class HashEmbedder:
    """A unit vector drawn from a generator seeded by the text's hash (not a token encoder)."""

    name, dimension = "all-MiniLM-L6-v2", DIMENSION

    def encode(self, texts, *, batch_size: int = 32, progress: bool = False) -> np.ndarray:  # noqa: ANN001
        out = np.empty((len(texts), DIMENSION), dtype=np.float32)
        for row, text in enumerate(texts):
            seed = int.from_bytes(hashlib.sha1(text.encode()).digest()[:8], "little")
            out[row] = np.random.default_rng(seed).standard_normal(DIMENSION, dtype=np.float32)
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def write_corpus(folder: Path, passages: int) -> int:
    sys.path.insert(0, str(Path(__file__).parent))
    from scale import ROOT, SENTENCES_PER_DOC, sentence_pool

    pool = sentence_pool(ROOT / "corpus", Path("/work/shared/bench/scifact"))
    rng = np.random.default_rng(0)
    documents = -(-passages // 10)
    folder.mkdir(parents=True, exist_ok=True)
    for d in range(documents):
        chosen = [pool[i] for i in rng.integers(0, len(pool), SENTENCES_PER_DOC)]
        (folder / f"paper-{d:06d}.txt").write_text(f"{chosen[0][:80]}\n\nResults\n\n" + " ".join(chosen[1:]),
                                                   encoding="utf-8")
    return documents


def settings_for(corpus: Path, index: Path):  # noqa: ANN201 - Settings
    from crps_qa.settings import Settings

    # an exact dense index at every size: the hash embedder's random vectors are the worst case
    # for HNSW (recall 0.81 at efSearch 1024 at 100k), and the index type is not what is tested
    return Settings(corpus_dir=corpus, index_dir=index, model="all-MiniLM-L6-v2", exact_search_below=10**9)


def build_stage(corpus: Path, index: Path) -> None:
    import logging

    from crps_qa.index.build import build

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    report = build(settings_for(corpus, index), HashEmbedder())
    print(json.dumps({"passages": report.passages, "embedded": report.embedded, "seconds": report.seconds}))


def snapshot(index: Path) -> dict:
    from crps_qa.index.store import load_index

    data = load_index(index)
    return {"build_id": data.build_id, "passages": [p.to_dict() for p in data.passages],
            "vectors": np.asarray(data.vectors), "sentences": [np.asarray(a) for a in (
                data.sentences.rows, data.sentences.starts, data.sentences.ends, data.sentences.vectors)]}


def same(a: dict, b: dict) -> bool:
    return (a["passages"] == b["passages"] and np.array_equal(a["vectors"], b["vectors"])
            and all(np.array_equal(x, y) for x, y in zip(a["sentences"], b["sentences"], strict=True)))


def start(corpus: Path, index: Path, log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, __file__, "--stage", str(corpus), str(index)],
                            stdout=subprocess.PIPE, stderr=open(log, "a"), text=True)  # noqa: SIM115


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passages", type=int, default=100_000)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--work", type=Path, default=Path("/tmp/crps-qa-kill"))
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--stage", nargs=2, type=Path, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.stage:
        build_stage(*options.stage)
        return
    subprocess.run(["rm", "-rf", str(options.work)], check=True)
    corpus, small = options.work / "corpus", options.work / "small"
    documents = write_corpus(corpus, options.passages)
    small.mkdir()
    for path in sorted(corpus.iterdir())[: max(1, documents // 20)]:
        os.link(path, small / path.name)
    log = options.work / "build.log"
    began = time.perf_counter()
    reference = start(corpus, options.work / "reference", log)
    reference.communicate()
    full_s = time.perf_counter() - began
    index = options.work / "index"
    start(small, index, log).communicate()
    previous = snapshot(index)["build_id"]
    rng = np.random.default_rng(int(time.time()))
    kills = []
    batches = -(-documents // 64)  # index_batch_documents
    for _ in range(options.kills):
        # over 10-90 % of what this run has left: a resumed build skips its committed batches
        # (embedding is about 60 % of an uninterrupted build here, the rest the dense index, the
        # tables and publishing), so drawing over a whole build's length lets later runs finish first
        committed = len(list((index / "builds" / ".staging").glob("batch-*")))
        delay = float(rng.uniform(0.1, 0.9) * full_s * (0.4 + 0.6 * (1 - min(committed, batches) / batches)))
        process = start(corpus, index, log)
        time.sleep(delay)
        finished = process.poll() is not None
        if not finished:
            os.kill(process.pid, signal.SIGKILL)
        process.wait()
        staged = len(list((index / "builds" / ".staging").glob("batch-*")))
        current = snapshot(index)["build_id"]  # raises if the index does not load
        # "new": killed after the new index was published (the rest of the run was clean-up)
        kills.append({"after_s": round(delay, 1), "finished_first": finished, "index_loads": True,
                      "current": "previous" if current == previous else "new", "committed_batches": staged})
        if finished:
            break
    began = time.perf_counter()
    out, _ = start(corpus, index, log).communicate()
    resume = json.loads(out.strip().splitlines()[-1])
    result = {"passages": resume["passages"], "documents": documents, "uninterrupted_build_s": round(full_s, 1),
              "kills": kills, "final_run_s": round(time.perf_counter() - began, 1),
              "final_run_embedded": resume["embedded"],
              "equal_to_uninterrupted": same(snapshot(index), snapshot(options.work / "reference")),
              "load_average": round(os.getloadavg()[0], 1)}
    print(json.dumps(result) if options.json else json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
