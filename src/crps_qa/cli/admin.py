"""``crps-qa eval`` and ``crps-qa serve``: the commands for maintainers and operators (registered
on the one ``app`` of :mod:`crps_qa.cli`)."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from crps_qa.cli import IndexOpt, JsonOpt, _open_pipeline, _settings, app, fail
from crps_qa.errors import ConfigError, CrpsQaError, QueryError
from crps_qa.settings import Settings


@app.command("eval")
def eval_(
    questions: Annotated[Path, typer.Option("--questions", help="Eval set (JSON lines).")] = Path(
        "eval/questions.jsonl"
    ),
    modes: Annotated[str, typer.Option("--modes", help="Comma-separated modes.")] = "dense,bm25,hybrid",
    split: Annotated[str, typer.Option("--split", help="dev | test | all")] = "all",
    report: Annotated[Path | None, typer.Option("--report", help="Markdown report (chart beside it).")] = None,
    beir: Annotated[Path | None, typer.Option("--beir", help="Evaluate on a BEIR folder instead.")] = None,
    beir_cache: Annotated[Path | None, typer.Option("--beir-cache", help="Cache BEIR vectors (.npy).")] = None,
    answers: Annotated[bool, typer.Option("--answers/--no-answers", help="Also score `ask` answers.")] = True,
    as_json: JsonOpt = False,
    index_dir: IndexOpt = None,
) -> None:
    """Measure retrieval: hit rate (answer recall) @1/5/10, recall, MRR@10 and nDCG@10 per mode.

    Examples: crps-qa eval --report eval/report.md
              crps-qa eval --beir ../shared/bench/scifact --modes bm25,dense,hybrid
    """
    from crps_qa.settings import MODES

    mode_list = [m.strip() for m in modes.split(",") if m.strip()]
    try:
        bad = [m for m in mode_list if m not in MODES]
        if bad or not mode_list:
            raise QueryError(f"Unknown mode(s) {bad}; use a comma-separated subset of {', '.join(MODES)}.")
        settings = _settings(index_dir=index_dir)
        if beir is not None:
            _eval_beir(beir, settings, mode_list, beir_cache, as_json)
            return
        from crps_qa.evaluate.harness import evaluate_retrieval, load_questions

        items = load_questions(questions, split=split)
        pipeline = _open_pipeline(settings)
        result = evaluate_retrieval(pipeline.analyzer, pipeline.retriever, items, modes=mode_list)
        answer_report = records = None
        if answers:
            from crps_qa.evaluate.calibration import collect
            from crps_qa.evaluate.harness import evaluate_answers

            asked = {}  # each question is asked once, for the answer metrics and for the calibration

            def ask_once(question: str):  # noqa: ANN202 - crps_qa.types.Answer, imported lazily
                if question not in asked:
                    asked[question] = pipeline.ask(question)
                return asked[question]

            answer_report = evaluate_answers(ask_once, items)
            records = collect(ask_once, items)
    except CrpsQaError as exc:
        raise fail(exc) from exc
    if as_json:
        record = result.to_dict()
        if answer_report is not None:
            from crps_qa.evaluate.calibration import risk_coverage, verdict_metrics

            record["answers"] = answer_report.to_dict()
            record["calibration"] = {**verdict_metrics(records), "risk_coverage": risk_coverage(records)}
        typer.echo(json.dumps(record, ensure_ascii=False))
    else:
        for mode in mode_list:
            metrics = "  ".join(f"{name} {value:.3f}" for name, value in result.metrics[mode].items())
            typer.echo(f"{mode:7s} {metrics}")
        if answer_report is not None:
            from crps_qa.evaluate.calibration import verdict_metrics

            typer.echo("answers " + "  ".join(f"{k} {v:.3f}" for k, v in answer_report.metrics.items()))
            typer.echo("verdicts " + "  ".join(f"{k} {v:.3f}" for k, v in verdict_metrics(records).items()))
    if report is not None:
        from crps_qa.evaluate.report import answers_markdown, chart, markdown

        command = "crps-qa " + " ".join(sys.argv[1:])
        report.parent.mkdir(parents=True, exist_ok=True)
        png = chart(result, report.with_suffix(".png"))
        extra = {"Answers (crps-qa ask)": answers_markdown(answer_report)} if answer_report else None
        if extra is not None:
            import numpy as np

            from crps_qa.evaluate.calibration import calibration_markdown, labels, reliability_chart

            diagram = reliability_chart(np.array([r.estimate for r in records]), labels(records),
                                        report.with_name(report.stem + "-reliability.png"))
            extra["Verdicts and calibration"] = calibration_markdown(records, diagram.name)
        body = markdown(result, title=f"Retrieval evaluation ({questions.name}, split {split})", command=command,
                        extra=extra)
        report.write_text(body + f"\n![hit rate at k by mode]({png.name})\n", encoding="utf-8")
        typer.echo(f"report written to {report} and {png}", err=True)


def _eval_beir(directory: Path, settings: Settings, modes: list[str], cache: Path | None, as_json: bool) -> None:
    from crps_qa.evaluate.beir import run_beir
    from crps_qa.index import embed

    result = run_beir(directory, settings, embed.embedder_for(settings), modes=modes, cache=cache)
    if as_json:
        typer.echo(json.dumps(result.__dict__))
        return
    typer.echo(f"{result.dataset}: {result.documents} documents ({result.sentences} sentences), {result.queries} "
               f"test queries, encoded in {result.encode_seconds:.0f}s ({result.sentence_seconds:.0f}s sentences)")
    typer.echo("| mode | nDCG@10 | Recall@100 | MRR@10 | query p50 ms |\n|---|---|---|---|---|")
    for mode in modes:
        m = result.metrics[mode]
        typer.echo(f"| {mode} | {m['ndcg@10']:.3f} | {m['recall@100']:.3f} | {m['mrr@10']:.3f} | "
                   f"{result.query_ms_median[mode]:.1f} |")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option("--host", help="Bind address (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port (default 8000).")] = None,
    index_dir: IndexOpt = None,
    poll: Annotated[float, typer.Option("--poll", help="Seconds between index checks (0 = off).")] = 5.0,
    threads: Annotated[int, typer.Option("--threads", help="Torch threads per query (0 = default).")] = 1,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Server processes (each maps the same index).")]
    = 1,
) -> None:
    """Run the HTTP service (JSON API, OpenAPI docs at /docs). It starts without an index and
    picks up every new build of `crps-qa index` without a restart.

    Queries run in parallel in a thread pool, each on --threads torch threads: one per query is
    several times faster than torch's default under concurrent requests (see bench/RESULTS.md).

    With --workers N, N processes share the port; each loads the model and memory-maps the index
    build, runs cores/N encoder threads (unless embed_threads is set) and picks up a new build on its
    own (README "Scaling out").

    Examples: crps-qa serve
              crps-qa serve --port 8080 --index other-index
              crps-qa serve --workers 2
    """
    import uvicorn
    from pydantic import ValidationError


    try:
        settings = _settings(api_host=host, api_port=port, index_dir=index_dir)
    except ValidationError as exc:  # e.g. a port out of range
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise fail(ConfigError(f"Invalid option: {problems}.")) from exc
    if workers > 1:  # each worker process builds its app with worker_app(), from the same settings
        # N processes on one machine share its cores rather than each running one thread per core
        share = max(1, (os.cpu_count() or 1) // workers)
        if settings.embed_threads == 0:
            settings = settings.model_copy(update={"embed_threads": share})
        threads = threads or share
        os.environ[WORKER_OPTIONS] = json.dumps({"settings": settings.model_dump(mode="json", exclude_unset=True),
                                                 "poll": poll, "threads": threads})
        uvicorn.run(f"{__name__}:worker_app", factory=True, workers=workers, host=settings.api_host,
                    port=settings.api_port, log_level="info")
        return
    uvicorn.run(_app(settings, poll, threads), host=settings.api_host, port=settings.api_port, log_level="info")


WORKER_OPTIONS = "CRPS_QA_SERVE_WORKER"  # not a setting: `serve --workers` hands its options to each worker


def _app(settings: Settings, poll: float, threads: int):  # noqa: ANN202 - a FastAPI app, imported lazily
    from crps_qa.api import create_app

    logging.getLogger("crps_qa").setLevel(logging.INFO)
    if threads > 0:
        import torch

        torch.set_num_threads(threads)
    return create_app(settings, poll_seconds=poll or None)


def worker_app():  # noqa: ANN201 - a FastAPI app
    """The app of one `crps-qa serve --workers N` process (uvicorn calls it in each worker)."""
    options = json.loads(os.environ[WORKER_OPTIONS])
    return _app(Settings(**options["settings"]), options["poll"], options["threads"])
