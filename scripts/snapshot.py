"""Record, or compare, what crps-qa says on every question set: for checking that a change which
should not alter behaviour (a restructuring) alters none.

    python scripts/snapshot.py record /tmp/before          # on the old commit, with its index
    python scripts/snapshot.py record /tmp/after           # on the new one
    python scripts/snapshot.py compare /tmp/before /tmp/after

``record`` runs ``crps-qa search --queries`` (every mode) and ``crps-qa ask --queries`` on each
eval/*.jsonl question set and keeps their JSON lines; ``compare`` lists every line that differs
(same hits, scores to 1e-6, answers and citations) and exits 1 if any does.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SETS = sorted(p for p in (REPO / "eval").glob("*.jsonl")  # question sets (not eval/confidence_features.jsonl)
              if '"question"' in p.read_text(encoding="utf-8").partition("\n")[0])
MODES = ("hybrid", "dense", "bm25")


def record(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for questions in SETS:
        runs = [(f"search-{questions.stem}-{mode}", ["search", "--mode", mode]) for mode in MODES]
        runs.append((f"ask-{questions.stem}", ["ask"]))
        for name, args in runs:
            result = subprocess.run([sys.executable, "-m", "crps_qa.cli", *args, "--queries", str(questions), "--json"],
                                    capture_output=True, text=True, check=True, cwd=REPO)
            (out / f"{name}.jsonl").write_text(result.stdout, encoding="utf-8")
            print(f"{name}: {len(result.stdout.splitlines())} lines", file=sys.stderr)


def same(a: object, b: object) -> bool:
    """Equal JSON values, floats to 1e-6."""
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-6)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def compare(before: Path, after: Path) -> int:
    differences = 0
    for old in sorted(before.glob("*.jsonl")):
        new = after / old.name
        if not new.exists():
            print(f"{old.name}: missing in {after}")
            differences += 1
            continue
        a, b = old.read_text(encoding="utf-8").splitlines(), new.read_text(encoding="utf-8").splitlines()
        if len(a) != len(b):
            print(f"{old.name}: {len(a)} lines before, {len(b)} after")
            differences += 1
        for x, y in zip(a, b, strict=False):
            # an answer's receipt names its index build, which differs between two recordings
            if not same(*({k: v for k, v in json.loads(line).items() if k != "receipt"} for line in (x, y))):
                print(f"{old.name}: {json.loads(x).get('id')} differs")
                differences += 1
    print(f"{differences} difference(s) over {len(list(before.glob('*.jsonl')))} files")
    return 1 if differences else 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "record":
        record(Path(sys.argv[2]))
    elif len(sys.argv) == 4 and sys.argv[1] == "compare":
        sys.exit(compare(Path(sys.argv[2]), Path(sys.argv[3])))
    else:
        sys.exit(__doc__)
