"""A slice of BEIR SciFact (200 abstracts, the first 30 judged claims) run through the BEIR runner
with the real model and stored token vectors: a regression in the runner or the pipeline fails here.
The full run is a benchmark: ``crps-qa eval --beir ../shared/bench/scifact`` (bench/RESULTS.md)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from crps_qa.evaluate.beir import run_beir
from crps_qa.settings import Settings

pytestmark = pytest.mark.model

SCIFACT = Path(__file__).resolve().parent.parent.parent / "shared" / "bench" / "scifact"
DOCUMENTS, CLAIMS = 200, 30
# measured 2026-12-01 with onnx-int8 on a loaded machine: hybrid 0.956, bm25 0.882, dense 0.924
HYBRID_NDCG_FLOOR = 0.88


def make_slice(source: Path, target: Path) -> Path:
    """The first CLAIMS judged claims, every abstract they cite, and the first other abstracts
    up to DOCUMENTS, as a BEIR folder."""
    with open(source / "qrels" / "test.tsv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    claims = list(dict.fromkeys(r["query-id"] for r in rows))[:CLAIMS]
    rows = [r for r in rows if r["query-id"] in claims]
    cited = {r["corpus-id"] for r in rows}
    with open(source / "corpus.jsonl", encoding="utf-8") as lines:
        corpus = [json.loads(line) for line in lines]
    kept = [d for d in corpus if d["_id"] in cited]
    kept += [d for d in corpus if d["_id"] not in cited][: DOCUMENTS - len(kept)]
    with open(source / "queries.jsonl", encoding="utf-8") as lines:
        queries = [q for q in map(json.loads, lines) if q["_id"] in claims]
    (target / "qrels").mkdir(parents=True)
    (target / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in kept), encoding="utf-8")
    (target / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries), encoding="utf-8")
    table = "query-id\tcorpus-id\tscore\n" + "".join(f"{r['query-id']}\t{r['corpus-id']}\t{r['score']}\n" for r in rows)
    (target / "qrels" / "test.tsv").write_text(table, encoding="utf-8")
    return target


@pytest.mark.skipif(not (SCIFACT / "corpus.jsonl").exists(),
                    reason=f"SciFact is not at {SCIFACT} (the shared bench folder beside the repository)")
def test_a_scifact_slice_meets_its_floor_with_stored_token_vectors(tmp_path, real_embedder):
    folder = make_slice(SCIFACT, tmp_path / "scifact-slice")
    result = run_beir(folder, Settings(), real_embedder, modes=["bm25", "hybrid"], cache=tmp_path / "c" / "s.npy")
    assert (result.documents, result.queries) == (DOCUMENTS, CLAIMS)
    assert result.sentences > 5 * DOCUMENTS
    hybrid = result.metrics["hybrid"]["ndcg@10"]
    assert hybrid >= HYBRID_NDCG_FLOOR and hybrid > result.metrics["bm25"]["ndcg@10"]
    assert (tmp_path / "c" / "s-tokens" / "token_index.npz").exists()  # the word matcher read stored vectors
