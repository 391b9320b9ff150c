"""The README's settings table, generated from :class:`Settings` so the two never drift apart.

    python -m crps_qa.docs            # rewrite the table in README.md
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from crps_qa.settings import Settings

START, END = "<!-- settings-table:start -->", "<!-- settings-table:end -->"


def settings_table() -> str:
    rows = ["| setting | environment variable | default | meaning |", "|---|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = json.dumps(list(field.default)) if isinstance(field.default, tuple) else field.default
        rows.append(f"| `{name}` | `CRPS_QA_{name.upper()}` | `{default}` | {field.description} |")
    return "\n".join(rows)


def render(readme: str) -> str:
    pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.S)
    return pattern.sub(lambda _: f"{START}\n{settings_table()}\n{END}", readme)


def main(path: str = "README.md") -> None:
    readme = Path(path)
    readme.write_text(render(readme.read_text(encoding="utf-8")), encoding="utf-8")


if __name__ == "__main__":
    main(*sys.argv[1:])
