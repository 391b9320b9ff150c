"""The current build of an index folder and its manifest: found, read and checked before anything
heavy loads.

    manifest = read_manifest(Path("index"))          # IndexMissingError / IndexCorruptError say how to fix
    check_compatible(manifest, Path("index"), model="all-MiniLM-L6-v2", dimension=384, backend="onnx-int8")
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from crps_qa.errors import REBUILD_HINT, IndexCorruptError, IndexMismatchError, IndexMissingError

FORMAT_VERSION = 3  # 2: sentence vectors for re-scoring; 3: passage roles, sections close after tables
CURRENT = "current"  # the link to the current build


def current_build(index_dir: Path) -> Path:
    """Folder of the current build, or IndexMissingError naming the command that builds one."""
    link = index_dir / CURRENT
    if not link.exists():
        raise IndexMissingError(
            f"No index found in {index_dir}/. Build it with: crps-qa index --index {index_dir}"
        )
    return link.resolve()


def read_manifest(index_dir: Path) -> dict[str, Any]:
    build = current_build(index_dir)
    try:
        return json.loads((build / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise IndexCorruptError(
            f"The index manifest in {build} is unreadable ({exc}). "
            f"Rebuild it with: {REBUILD_HINT} --index {index_dir}"
        ) from exc


def manifest_backend(manifest: dict[str, Any]) -> str:
    """The embedding backend that built an index (one made before backends existed: torch)."""
    return str(manifest.get("embed_backend", "torch"))


def check_compatible(manifest: dict[str, Any], index_dir: Path, *, model: str | None, dimension: int | None,
                     backend: str | None = None) -> None:
    """Refuse an index built with another format, model, dimension or embedding backend."""
    fix = f"Rebuild it with: {REBUILD_HINT} --index {index_dir}"
    if manifest.get("format_version") != FORMAT_VERSION:
        raise IndexMismatchError(
            f"The index in {index_dir}/ has format version {manifest.get('format_version')}, "
            f"this crps-qa reads version {FORMAT_VERSION}. {fix}"
        )
    if model is not None and manifest.get("model") != model:
        raise IndexMismatchError(
            f"The index in {index_dir}/ was built with model {manifest.get('model')!r} but the model "
            f"setting is {model!r}. {fix} (or set CRPS_QA_MODEL={manifest.get('model')})"
        )
    if backend is not None and manifest_backend(manifest) != backend:
        raise IndexMismatchError(
            f"The index in {index_dir}/ was built with embedding backend {manifest_backend(manifest)!r} but the "
            f"embed_backend setting is {backend!r}; their vectors differ slightly, so they are not mixed. {fix} "
            f"(or set CRPS_QA_EMBED_BACKEND={manifest_backend(manifest)})"
        )
    if dimension is not None and manifest.get("dimension") != dimension:
        raise IndexMismatchError(
            f"The index in {index_dir}/ has {manifest.get('dimension')}-dimensional vectors but the "
            f"model gives {dimension}. {fix}"
        )
