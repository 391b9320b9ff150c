"""Build an index on a 2-node local Ray cluster (run by tests/test_ray_build.py and bench, always
inside scripts/ray_sandbox.sh: loopback only, Ray's safe settings, every Ray process stopped).

    sh scripts/ray_sandbox.sh python tests/ray_cluster.py CORPUS INDEX [--crash-once MARKER]

With --crash-once, the first embedding actor to get a batch exits the process (once: MARKER records
it), as a worker dying mid-build would. Prints the BuildReport (or the error) as one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from crps_qa.errors import CrpsQaError
from crps_qa.index.ray_build import EmbedActor, build_on_ray
from crps_qa.settings import Settings

PORT = 6391


class CrashOnce(EmbedActor):
    """An encoder whose process dies on its first batch, the first time any of them runs."""

    marker = ""

    def embed(self, kind, texts, batch_size):  # noqa: ANN001, ANN201 - as EmbedActor
        if not os.path.exists(self.marker):
            Path(self.marker).write_text(str(os.getpid()))
            os._exit(1)
        return super().embed(kind, texts, batch_size)


def start_cluster(nodes: int) -> str:
    common = ["--disable-usage-stats", "--node-ip-address", "127.0.0.1", "--num-cpus", "1",
              "--object-store-memory", str(200 * 2**20)]
    subprocess.run(["ray", "start", "--head", "--port", str(PORT), "--include-dashboard", "false", *common],
                   check=True, stdout=subprocess.DEVNULL)
    for _ in range(nodes - 1):
        subprocess.run(["ray", "start", "--address", f"127.0.0.1:{PORT}", *common], check=True,
                       stdout=subprocess.DEVNULL)
    return f"127.0.0.1:{PORT}"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("corpus", type=Path)
    parser.add_argument("index", type=Path)
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--crash-once", default="")
    parser.add_argument("--backend", default="torch")
    args = parser.parse_args()
    address = start_cluster(args.nodes)
    actor = EmbedActor
    if args.crash_once:
        CrashOnce.marker = args.crash_once
        actor = CrashOnce
    settings = Settings(corpus_dir=args.corpus, index_dir=args.index, embed_backend=args.backend)
    try:
        report = build_on_ray(settings, address=address, actor=actor,  # one embedding actor per node
                              progress=lambda line: print(line, file=sys.stderr, flush=True))
    except CrpsQaError as exc:
        print(json.dumps({"error": str(exc), "type": type(exc).__name__}))
        return 1
    print(json.dumps({"build_dir": str(report.build_dir), "passages": report.passages,
                      "embedded": report.embedded, "seconds": report.seconds}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
