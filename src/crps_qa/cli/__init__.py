"""The ``crps-qa`` command line. Errors are one line on stderr and a non-zero exit code.

    crps-qa index                                  # build or refresh index/ from corpus/
    crps-qa search "max ketamine infusion rate" --k 5
    crps-qa search --queries questions.jsonl --json > hits.jsonl
    crps-qa ask "what was the maximum S-ketamine infusion rate?"
    crps-qa ask "what dose was used?" --design "case report" --json > answer.json
    crps-qa replay answer.json                     # "identical", or what changed since
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from crps_qa.errors import (
    ConfigError,
    CrpsQaError,
    IndexError_,
    ModelError,
    NotFoundError,
    QueryError,
)
from crps_qa.settings import Settings

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Cited search over the CRPS / ketamine papers.")

EXIT_CODES: dict[type[CrpsQaError], int] = {
    QueryError: 2,
    ConfigError: 2,
    NotFoundError: 4,
    IndexError_: 3,
    ModelError: 5,
}

IndexOpt = Annotated[Path | None, typer.Option("--index", help="Index folder (default: index/).")]
KOpt = Annotated[int | None, typer.Option("--k", "-k", help="Number of passages (1-50).")]
ModeOpt = Annotated[str, typer.Option("--mode", help="hybrid | dense | bm25")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON lines on stdout.")]
DocOpt = Annotated[list[str] | None, typer.Option("--doc", help="Only this document id (repeatable).")]
QueriesOpt = Annotated[Path | None, typer.Option("--queries", help="JSON lines with id and question.")]
AsTypedOpt = Annotated[bool, typer.Option("--as-typed", help="Do not correct words that look like typos.")]
DesignOpt = Annotated[list[str] | None, typer.Option("--design", help="Only papers of this design (repeatable), "
                      "e.g. 'case report', 'retrospective cohort'.")]
MinNOpt = Annotated[int | None, typer.Option("--min-n", help="Only papers with at least this many patients.")]
YearFromOpt = Annotated[int | None, typer.Option("--year-from", help="Only papers whose period reaches this year.")]
YearToOpt = Annotated[int | None, typer.Option("--year-to", help="Only papers whose period starts by this year.")]
DrugOpt = Annotated[str | None, typer.Option("--drug", help="Only papers about this drug (ketamine, S-ketamine).")]


def _settings(**overrides: Any) -> Settings:
    return Settings(**{key: value for key, value in overrides.items() if value is not None})


def fail(exc: CrpsQaError) -> typer.Exit:
    code = next((c for kind, c in EXIT_CODES.items() if isinstance(exc, kind)), 1)
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(code)


def read_queries(path: Path) -> list[dict[str, str]]:
    """Parse a JSON-lines file of {"id", "question"}; any bad line is an error naming it."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise QueryError(f"Cannot read queries file {path}: {exc}") from exc
    queries = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise QueryError(f"{path} line {number} is not valid JSON ({exc.msg}).") from exc
        if not isinstance(record, dict) or "question" not in record or "id" not in record:
            raise QueryError(f'{path} line {number} needs "id" and "question" fields.')
        if not isinstance(record["question"], str) or not record["question"].strip():
            raise QueryError(f"{path} line {number} has an empty question.")
        queries.append({"id": record["id"], "question": record["question"]})
    return queries


def _open_pipeline(settings: Settings):  # noqa: ANN202 - imported lazily: torch is slow to import
    from crps_qa.index import embed
    from crps_qa.pipeline import Pipeline

    Pipeline.preflight(settings)  # no or mismatched index: say so before spending seconds on the model
    return Pipeline.open(settings, embedder=embed.embedder_for(settings))


@app.command()
def index(
    corpus: Annotated[Path | None, typer.Option("--corpus", help="Corpus folder (default: corpus/).")] = None,
    index_dir: IndexOpt = None,
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Re-embed everything, ignoring the cache.")] = False,
    if_stale: Annotated[bool, typer.Option("--if-stale", help="Do nothing when the index is up to date.")] = False,
    ray: Annotated[str | None, typer.Option("--ray", help='On a Ray cluster: auto, local or HOST:PORT '
                                            '(pip install -e ".\\[ray]"; one embedding actor per node).')] = None,
) -> None:
    """Build or refresh the index from the corpus (only new or changed passages are embedded).

    Example: crps-qa index --corpus corpus --index index
    """
    from crps_qa.index import embed
    from crps_qa.index.build import build, is_stale

    try:
        settings = _settings(corpus_dir=corpus, index_dir=index_dir)
        if if_stale and not rebuild:
            reason = is_stale(settings)
            if reason is None:
                typer.echo(f"index in {settings.index_dir}/ is up to date", err=True)
                return
            typer.echo(f"indexing: {reason}", err=True)
        if ray is not None:  # the same build on a Ray cluster (README "Scaling out")
            from crps_qa.index.ray_build import build_on_ray
            report = build_on_ray(settings, address=ray, rebuild=rebuild, progress=lambda s: typer.echo(s, err=True))
        else:
            report = build(settings, embed.embedder_for(settings), rebuild=rebuild, progress=True)
    except CrpsQaError as exc:
        raise fail(exc) from exc
    for skipped in report.skipped:
        typer.echo(f"skipped {skipped.path}: {skipped.reason}", err=True)
    typer.echo(
        f"indexed {report.documents} documents, {report.passages} passages "
        f"({report.embedded} embedded, {report.reused} reused; token vectors of {report.tokens_encoded} "
        f"sentences computed) in {report.seconds:.1f}s → {report.build_dir}",
        err=True,
    )


@app.command()
def search(
    query: Annotated[str | None, typer.Argument(help="The question.")] = None,
    k: KOpt = None,
    mode: ModeOpt = "hybrid",
    doc: DocOpt = None,
    queries: QueriesOpt = None,
    as_json: JsonOpt = False,
    index_dir: IndexOpt = None,
    as_typed: AsTypedOpt = False,
    design: DesignOpt = None, min_n: MinNOpt = None, year_from: YearFromOpt = None, year_to: YearToOpt = None,
    drug: DrugOpt = None,
) -> None:
    """Find the passages that answer a question, each cited to document, section, page and span.

    Examples: crps-qa search "how long did pain relief last" --k 3
              crps-qa search "infusion rate" --design "case report" --drug ketamine
              crps-qa search --queries eval/questions.jsonl --json
    """
    filters = (design, min_n, year_from, year_to, drug)

    def record(pipeline: Any, text: str, docs: tuple[str, ...]) -> tuple[dict[str, Any], Any]:
        request = pipeline.validate(text, k=k, mode=mode, doc_ids=docs, correct=not as_typed)
        hits = pipeline.run(request)
        line = {"hits": [h.to_dict() for h in hits], "corrections": [c.to_dict() for c in request.corrections]}
        return line, (request, hits, _badges(pipeline))

    def show(result: Any) -> None:
        request, hits, badges = result
        _print_corrections(request.query.text, request.corrections)
        _print_hits(hits, badges)

    _run_each("search", query, queries, index_dir, k, mode, doc, record, show, as_json, filters)


def _print_corrections(searched: str, corrections: Any) -> None:
    """``Searched for: <corrected query> (releif → relief)`` when a typo was corrected."""
    if corrections:
        fixed = ", ".join(f"{c.word} → {c.correction}" for c in corrections)
        typer.secho(f"Searched for: {searched} ({fixed})\n", italic=True)


def _badges(pipeline: Any) -> dict[str, str]:
    """Each indexed paper's one-line evidence badge ("Case series · n = 33 · ..."), by doc_id."""
    from crps_qa.ingest.facets import badge

    return {doc_id: badge(info.facets.to_dict()) for doc_id, info in pipeline.data.documents.items()}


def _print_hits(hits: list, badges: dict[str, str] | None = None) -> None:
    if not hits:
        typer.echo("No passage matches this question.")
    for hit in hits:
        where = ", ".join(
            part
            for part in (hit.section, f"p. {hit.page}" if hit.page else None, f"chars {hit.char_start}-{hit.char_end}")
            if part
        )
        typer.secho(f"[{hit.rank}] {hit.title}", bold=True)
        if (badges or {}).get(hit.doc_id):
            typer.echo(f"    {badges[hit.doc_id]}")
        typer.echo(f"    {hit.doc_id} · {where} · score {hit.score:.3f}")
        typer.echo(f"    {hit.text}\n")


@app.command()
def ask(
    question: Annotated[str | None, typer.Argument(help="The question.")] = None,
    k: KOpt = None,
    mode: ModeOpt = "hybrid",
    doc: DocOpt = None,
    queries: QueriesOpt = None,
    as_json: JsonOpt = False,
    index_dir: IndexOpt = None,
    as_typed: AsTypedOpt = False,
    design: DesignOpt = None, min_n: MinNOpt = None, year_from: YearFromOpt = None, year_to: YearToOpt = None,
    drug: DrugOpt = None,
) -> None:
    """Answer with sentences quoted from the papers, each marked [n] and cited to document, section,
    page and span, or refuse ("Not found in the corpus: ...") and list the closest passages.
    With --json the answer carries a receipt that `crps-qa replay` checks later.

    Examples: crps-qa ask "what was the maximum S-ketamine infusion rate?"
              crps-qa ask "what dose was used?" --design "case report" --json > answer.json
              crps-qa ask --queries eval/questions.jsonl --json > answers.jsonl
    """
    from crps_qa.receipt import AskRequest, make_receipt
    from crps_qa.search.filters import EvidenceFilter

    filters = (design, min_n, year_from, year_to, drug)

    def record(pipeline: Any, text: str, docs: tuple[str, ...]) -> tuple[dict[str, Any], Any]:
        wanted = EvidenceFilter.of(design=design, min_n=min_n, year_from=year_from, year_to=year_to, drug=drug)
        request = AskRequest(text, k, mode, tuple(doc or ()), not as_typed, wanted)
        answer = request.run(pipeline)
        line = {key: value for key, value in answer.to_dict().items() if key != "question"}
        return {**line, "receipt": make_receipt(pipeline, answer, request)}, (answer, _badges(pipeline))

    _run_each("ask", question, queries, index_dir, k, mode, doc, record, lambda shown: _print_answer(*shown),
              as_json, filters)


def _run_each(
    command: str, question: str | None, queries: Path | None, index_dir: Path | None, k: int | None, mode: str,
    doc: list[str] | None, record: Any, show: Any, as_json: bool, filters: tuple = (None,) * 5,
) -> None:
    """The shared body of ``search`` and ``ask``: one question or a JSON-lines batch, every request
    validated before anything is printed, then one JSON line per query (with its id in batch mode)
    or human output via ``show``. ``record(pipeline, question, doc_ids)`` returns (JSON record, what
    ``show`` prints); ``doc_ids`` are --doc narrowed by the evidence ``filters`` (design, min_n,
    year_from, year_to, drug)."""
    from crps_qa.search.filters import EvidenceFilter

    try:
        settings = _settings(index_dir=index_dir)
        if (question is None) == (queries is None):
            raise QueryError(f'Give either a question ("crps-qa {command} \\"...\\"") or --queries FILE.jsonl.')
        batch = read_queries(queries) if queries else [{"id": None, "question": question}]
        design, min_n, year_from, year_to, drug = filters
        wanted = EvidenceFilter.of(design=design, min_n=min_n, year_from=year_from, year_to=year_to, drug=drug)
        pipeline = _open_pipeline(settings)
        docs = wanted.resolve(pipeline.data.documents, doc or ())
        for item in batch:  # validate everything before printing anything
            pipeline.validate(item["question"], k=k, mode=mode, doc_ids=docs)
        for item in batch:
            line, result = record(pipeline, item["question"], docs)
            if as_json or queries:
                line = {"id": item["id"], **line} if queries else line
                sys.stdout.write(json.dumps(line, ensure_ascii=False) + "\n")
            else:
                show(result)
    except CrpsQaError as exc:
        raise fail(exc) from exc


def _print_answer(answer, badges: dict[str, str] | None = None) -> None:  # noqa: ANN001 - types.Answer
    _print_corrections(answer.query, answer.corrections)
    typer.echo(answer.answer)
    if answer.missing_terms:
        typer.echo(f"No indexed paper mentions: {', '.join(answer.missing_terms)}.")
    typer.echo(f"(verdict {answer.decided.replace('_', ' ')}, confidence {answer.confidence:.2f})\n")
    if answer.refused:
        typer.secho("Related reading:", bold=True)
        _print_hits(list(answer.passages), badges)
        return
    typer.secho("Closest sentences, to check:" if answer.decided == "uncertain" else "Sources:", bold=True)
    for c in answer.citations:
        where = ", ".join(part for part in (c.section, f"p. {c.page}" if c.page else None,
                                            f"chars {c.char_start}-{c.char_end}") if part)
        evidence = f"\n    {badges[c.doc_id]}" if (badges or {}).get(c.doc_id) else ""
        typer.echo(f"[{c.marker}] {c.title}{evidence}\n    {c.doc_id} · {where}\n    \"{' '.join(c.quote.split())}\"")


@app.command()
def documents(index_dir: IndexOpt = None, as_json: JsonOpt = False) -> None:
    """List the indexed documents with their metadata and evidence facets (design, n, population,
    intervention, follow-up, year; with --json each facet has the span of the text it was read from).

    Examples: crps-qa documents
              crps-qa documents --json | jq .facets.design
    """
    from crps_qa.index.store import load_index
    from crps_qa.ingest.facets import badge

    try:
        data = load_index(_settings(index_dir=index_dir).index_dir)
    except CrpsQaError as exc:
        raise fail(exc) from exc
    counts = data.passage_counts()
    for doc_id, info in data.documents.items():
        if as_json:
            typer.echo(json.dumps({**info.to_dict(), "passages": counts.get(doc_id, 0)}, ensure_ascii=False))
        else:
            kind, year = info.study_type or "unknown type", info.year or "n.d."
            typer.echo(f"{doc_id}  ({kind}, {year}, {counts.get(doc_id, 0)} passages)\n    {info.title}")
            evidence = badge(info.facets.to_dict())
            if evidence:
                typer.echo(f"    {evidence}")


# eval and serve live in crps_qa.cli.admin, replay in crps_qa.cli.replay; importing them registers them on ``app``
from crps_qa.cli import admin, replay  # noqa: E402, F401


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        app()
    except CrpsQaError as exc:  # pragma: no cover - commands translate their own errors
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)
