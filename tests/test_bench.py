"""bench/bench_search.py keeps working: its measuring function runs on the tiny corpus with the fake
embedder, and its table renders."""

from __future__ import annotations

import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench" / "bench_search.py"


def _bench_search():
    spec = importlib.util.spec_from_file_location("bench_search", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_search_measures_the_tiny_corpus(tiny_settings, fake_embedder):
    bench = _bench_search()
    questions = ["What was the maximum infusion rate?", "Did the skin temperature rise?"]
    result = bench.measure(tiny_settings, fake_embedder, questions, repeats=2, passes=2, warmup=1,
                           typos=["What was the maximum infusoin rate?"])

    index = result["index"]
    assert index["documents"] == 2 and index["passages"] > 2 and index["sentences"] > index["passages"]
    assert len(index["build_s"]) == 2 and index["build_median_s"] > 0 and index["size_bytes"] > 0
    assert index["incremental_embedded"] == 0 and index["incremental_reused"] == index["passages"]
    for mode in bench.MODES:
        stats = result["queries"][mode]
        assert stats["n"] == 4 and 0 < stats["p50"] <= stats["p95"] and len(stats["by_pass"]) == 2
    assert not result["query_setup"]["stopped_early"]
    assert result["rss_mb"]["after_queries"] >= result["rss_mb"]["before_build"] > 0

    spelling = result["spelling"]
    assert spelling["clean"]["corrected"] == 0 and spelling["typos"] == {**spelling["typos"], "n": 1, "corrected": 1}

    table = bench.render(result)
    assert table.startswith("| measure | value |") and "typo correction" in table
    assert "search hybrid" in table and "ask (Pipeline.ask" in table and "incremental re-index" in table
