"""``crps-qa replay RECEIPT.json``: ask a saved answer's question again and say whether the answer is
the same (registered on the one ``app`` of :mod:`crps_qa.cli`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from crps_qa.cli import IndexOpt, JsonOpt, _open_pipeline, _settings, app, fail
from crps_qa.errors import CrpsQaError, QueryError


@app.command()
def replay(
    receipt_file: Annotated[Path, typer.Argument(help="A receipt, or a whole `crps-qa ask --json` answer.")],
    as_json: JsonOpt = False,
    index_dir: IndexOpt = None,
) -> None:
    """Ask a receipt's question again and report "identical" (same answer, citations and spans) or
    exactly what differs: a changed paper, setting, index build or model, and how the answer changed.
    Exits 0 when identical, 1 when something differs.

    Example: crps-qa ask "what dose was used?" --json > answer.json; crps-qa replay answer.json
    """
    from crps_qa.receipt import read_receipt
    from crps_qa.receipt import replay as replay_receipt

    try:
        try:
            saved = read_receipt(json.loads(receipt_file.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise QueryError(f"Cannot read the receipt {receipt_file}: {exc}") from exc
        result = replay_receipt(saved, _open_pipeline(_settings(index_dir=index_dir)))
    except CrpsQaError as exc:
        raise fail(exc) from exc
    if as_json:
        typer.echo(json.dumps(result.to_dict(), ensure_ascii=False))
    elif result.identical:
        typer.echo("identical")
    else:
        typer.echo(f"differs in {len(result.differences)} way(s):")
        for difference in result.differences:
            typer.echo(f"  {difference}")
    raise typer.Exit(0 if result.identical else 1)
