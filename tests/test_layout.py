"""The package's shape: stages import only from earlier stages, modules stay short, and the public
API is pinned."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import crps_qa

PACKAGE = Path(crps_qa.__file__).resolve().parent
# Data flows one way: a module may import its own stage and earlier ones, never a later one.
ORDER = {
    "settings": 0, "types": 0, "errors": 0, "vocab": 0,
    "ingest": 1, "index": 2, "query": 3, "search": 4, "answer": 5, "pipeline": 6, "evaluate": 7,
    "api": 8, "cli": 8, "docs": 8,
}
MAX_LINES = 330  # "about 300"


def stage(module: str) -> str:
    """'crps_qa.search.late' → 'search'; 'crps_qa' → '' (the facade)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def modules() -> list[tuple[str, Path]]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out.append((name, path))
    return out


def imported(path: Path, name: str) -> set[str]:
    """Every crps_qa module ``path`` imports, at the top or inside a function."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("crps_qa"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: "from .late import x" inside crps_qa.search
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            if base == "crps_qa":  # "from crps_qa import x": the module x, or the facade
                found.update(f"crps_qa.{a.name}" if (PACKAGE / a.name).exists() or (PACKAGE / f"{a.name}.py").exists()
                             else "crps_qa" for a in node.names)
            elif base.startswith("crps_qa"):
                found.add(base)
    return found


def test_every_module_belongs_to_a_known_stage():
    unknown = {stage(name) for name, _ in modules()} - set(ORDER) - {""}
    assert not unknown, f"add {unknown} to ORDER in this test, in the place the data flow gives it"


def test_no_stage_imports_from_a_later_one():
    back_edges = []
    for name, path in modules():
        if stage(name) == "":
            continue  # the facade re-exports from every stage
        for target in imported(path, name):
            if stage(target) and ORDER[stage(target)] > ORDER[stage(name)]:
                back_edges.append(f"{name} imports {target}")
    assert back_edges == []


def test_the_walker_sees_a_back_edge(tmp_path):
    fake = tmp_path / "late.py"
    fake.write_text("def f():\n    from crps_qa.answer.answerer import Answerer\n", encoding="utf-8")
    assert imported(fake, "crps_qa.search.late") == {"crps_qa.answer.answerer"}


@pytest.mark.parametrize(("name", "path"), modules(), ids=[name for name, _ in modules()])
def test_modules_stay_short(name, path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{name} has {lines} lines: split it by responsibility"


def test_the_public_api_is_pinned():
    assert sorted(crps_qa.__all__) == [
        "Answer", "Citation", "CleanDocument", "Correction", "CrpsQaError", "DocumentInfo", "Hit", "Passage",
        "Pipeline", "Query", "RawDocument", "Section", "Settings",
    ]
    for name in crps_qa.__all__:
        assert getattr(crps_qa, name).__name__ == name
