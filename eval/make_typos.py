"""Write eval/typos.jsonl: every question of eval/questions.jsonl with typing errors in it.

    python eval/make_typos.py            # rewrites eval/typos.jsonl (deterministic, seed 7)

Each question gets one error in each of up to two of its longer words (5+ letters, not a question
word): two neighbouring letters swapped, a letter dropped, a letter doubled, or a letter replaced
by its neighbour on a QWERTY keyboard, chosen at random. The first letter is never touched (people
rarely mistype it). Expected answers, splits and documents are copied unchanged, so
``crps-qa eval --questions eval/typos.jsonl`` measures what typos cost, with spelling correction
on (the default) and off (``CRPS_QA_SPELLING_CORRECTION=false``).
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 7
MAX_WORDS = 2
SKIP = {"which", "what", "where", "while", "whose", "would", "could", "should", "there", "their", "about"}
ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
NEIGHBOURS = {c: "".join(row[j] for j in (i - 1, i + 1) if 0 <= j < len(row))
              for row in ROWS for i, c in enumerate(row)}


def mistype(word: str, rng: random.Random) -> str:
    """One typing error in ``word``, never in its first letter."""
    i = rng.randrange(1, len(word) - 1)
    kind = rng.choice(("swap", "drop", "double", "neighbour"))
    if kind == "swap":
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if kind == "drop":
        return word[:i] + word[i + 1 :]
    if kind == "double":
        return word[:i] + word[i] + word[i:]
    near = NEIGHBOURS.get(word[i].lower()) or word[i]
    return word[:i] + rng.choice(near) + word[i + 1 :]


def with_typos(question: str, rng: random.Random) -> str:
    words = [m for m in re.finditer(r"[A-Za-z]{5,}", question) if m.group(0).lower() not in SKIP]
    chosen = sorted(rng.sample(words, min(MAX_WORDS, len(words))), key=lambda m: m.start(), reverse=True)
    for m in chosen:
        question = question[: m.start()] + mistype(m.group(0), rng) + question[m.end() :]
    return question


def main() -> None:
    rng = random.Random(SEED)
    lines = []
    for line in (HERE / "questions.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            record = json.loads(line)
            record["question"] = with_typos(record["question"], rng)
            lines.append(json.dumps(record, ensure_ascii=False))
    (HERE / "typos.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {len(lines)} questions to {HERE / 'typos.jsonl'}")


if __name__ == "__main__":
    main()
