"""Typo correction on a BEIR set: BM25 and dense nDCG@10 with and without correction, the
claims it changed, and what the old speller (no corpus words, technical names not protected) did.

    python bench/spelling_beir.py ../shared/bench/scifact --cache /tmp/scifact-onnx/int8/scifact.npy

Uses the document vectors cached by ``crps-qa eval --beir ... --beir-cache`` (no sentences: the
corrections touch the query, which BM25 shows most directly).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from crps_qa.evaluate.beir import build_beir_index, load_beir
from crps_qa.index.embed import embedder_for
from crps_qa.query.spelling import Speller
from crps_qa.search.fusion import ranked
from crps_qa.search.retrieve import Retriever
from crps_qa.settings import Settings


def main() -> None:
    from ranx import Qrels, Run, evaluate

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--cache", type=Path, required=True, help="the document vectors (.npy) of this corpus")
    args = parser.parse_args()
    corpus, queries, qrels = load_beir(args.folder)
    embedder = embedder_for(Settings())  # CRPS_QA_EMBED_BACKEND, CRPS_QA_EMBED_CACHE_DIR apply
    data, _, _ = build_beir_index(corpus, embedder, batch_size=32, cache=args.cache, sentences=False, tokens=False)
    retriever = Retriever(data, embedder, Settings(spelling_correction=False))
    spellers = {"off": None, "corpus words + names kept (now)": Speller.build(p.text for p in data.passages),
                "no corpus words, names kept": Speller.build([])}
    ids = list(queries)
    vectors = dict(zip(ids, embedder.encode([queries[i] for i in ids]), strict=True))
    print("| correction | claims changed | bm25 nDCG@10 | dense nDCG@10 |\n|---|---|---|---|")
    for name, speller in spellers.items():
        corrected = {i: speller.correct(queries[i])[0] if speller else queries[i] for i in ids}
        changed = [i for i in ids if corrected[i] != queries[i]]
        fresh = dict(zip(changed, embedder.encode([corrected[i] for i in changed]), strict=True)) if changed else {}
        row = []
        for mode in ("bm25", "dense"):
            run = {}
            for i in ids:
                scores = retriever.run(corrected[i], mode=mode, n=100, vector=fresh.get(i, vectors[i]), correct=False)
                run[i] = {data.passages[r].chunk_id: scores[r] for r in ranked(scores)[:100]} or {"<none>": 0.0}
            row.append(evaluate(Qrels(qrels), Run(run), "ndcg@10", make_comparable=True))
        print(f"| {name} | {len(changed)} | {row[0]:.3f} | {row[1]:.3f} |")


if __name__ == "__main__":
    main()
