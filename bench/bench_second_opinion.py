"""What the second opinion (CRPS_QA_SECOND_OPINION=all-mpnet-base-v2, issue 16) adds to ``ask``.

    python bench/bench_second_opinion.py                  # eval/probe.jsonl, 2 passes
    python bench/bench_second_opinion.py --questions eval/questions.jsonl --passes 1

Opens the built index (``index/``), warms the pipeline and the model, then asks every question with
the second opinion off and on, interleaved per question so that load on a shared machine hits both
alike, and prints a Markdown table of ask latency (p50 / p95 / mean, ms) and the difference.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from crps_qa.answer.second_opinion import MPNET, second_opinion_for
from crps_qa.pipeline import Pipeline
from crps_qa.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=Path, default=ROOT / "eval" / "probe.jsonl")
    parser.add_argument("--passes", type=int, default=2)
    args = parser.parse_args()
    settings = Settings()
    pipeline = Pipeline.open(settings)
    pipeline.warm()
    answerer = pipeline.parts.answerer
    scorer = second_opinion_for(settings.model_copy(update={"second_opinion": MPNET}))
    questions = [json.loads(line)["question"] for line in args.questions.read_text(encoding="utf-8").splitlines()
                 if line.strip()]
    times: dict[str, list[float]] = {"off": [], "on": []}
    for second in (None, scorer):  # warm-up: the first call loads the model
        answerer.second = second
        pipeline.ask(questions[0])
    for _ in range(args.passes):
        for question in questions:
            for label, second in (("off", None), ("on", scorer)):
                answerer.second = second
                start = time.perf_counter()
                pipeline.ask(question)
                times[label].append(time.perf_counter() - start)
    print(f"{len(questions)} questions x {args.passes} passes ({args.questions.name})\n")
    print("| second opinion | p50 ms | p95 ms | mean ms |\n|---|---|---|---|")
    stats = {}
    for label, seconds in times.items():
        ms = np.asarray(seconds) * 1000
        stats[label] = (*np.percentile(ms, [50, 95]), ms.mean())
        print(f"| {label} | {stats[label][0]:.1f} | {stats[label][1]:.1f} | {stats[label][2]:.1f} |")
    added = [b - a for a, b in zip(stats["off"], stats["on"], strict=True)]
    print(f"| added | {added[0]:.1f} | {added[1]:.1f} | {added[2]:.1f} |")


if __name__ == "__main__":
    main()
