"""`crps-qa index --ray`: a build on a 2-node local Ray cluster equals the local build bit for bit
(identical hybrid top 10 for every eval question), and one that loses an embedding actor mid-build
still completes or fails leaving the previous index. The pool's batches are the encoder's own.

Ray runs only inside scripts/ray_sandbox.sh (a loopback-only network namespace, Ray's safe
settings, every Ray process stopped at the end: issue 15); these tests skip where that is impossible.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from crps_qa.evaluate.harness import load_questions
from crps_qa.index.build import build
from crps_qa.index.ray_build import encoding_order
from crps_qa.index.store import load_index
from crps_qa.pipeline import Pipeline
from crps_qa.settings import Settings

pytestmark = pytest.mark.model

REPO = Path(__file__).resolve().parent.parent
SANDBOX = REPO / "scripts" / "ray_sandbox.sh"
HELPER = REPO / "tests" / "ray_cluster.py"
QUESTIONS = REPO / "eval" / "questions.jsonl"
CORPUS = REPO / "corpus"
PHRASE = "ketamine infusion lowered pain scores in complex regional pain syndrome for weeks"


@pytest.fixture(scope="module")
def sandbox() -> None:
    pytest.importorskip("ray", reason='Ray is not installed: pip install -e ".[ray]"')
    if not (shutil.which("unshare") and shutil.which("ip")):
        pytest.skip("unshare or ip is missing: Ray may only run in a loopback-only network namespace")
    probe = subprocess.run(["unshare", "-n", "-p", "-f", "--mount-proc", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot create a network namespace (needs root): {probe.stderr.decode().strip()}")


def run_on_ray(corpus: Path, index: Path, *extra: str) -> dict:
    src = str(REPO / "src")
    env = {**os.environ, "PYTHON": sys.executable,
           "PYTHONPATH": os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(["sh", str(SANDBOX), sys.executable, str(HELPER), str(corpus), str(index), *extra],
                          env=env, capture_output=True, text=True, timeout=1200)
    lines = done.stdout.strip().splitlines()
    assert lines, f"no result from the Ray build (exit {done.returncode}):\n{done.stderr[-3000:]}"
    return json.loads(lines[-1])


def assert_same_index(built: Path, expected: Path) -> None:
    """Equal to the local build bit for bit: the pool runs the encoder's own batches (see
    crps_qa.index.ray_build.encoding_order), so every vector, and the token codebook trained on
    them, is the local build's."""
    got, want = load_index(built), load_index(expected)
    assert list(got.passages) == list(want.passages)  # the same passages, in the same order
    assert got.documents == want.documents and got.texts == want.texts
    np.testing.assert_array_equal(got.vectors, want.vectors)
    np.testing.assert_array_equal(got.sentences.vectors, want.sentences.vectors)
    assert (got.tokens is None) == (want.tokens is None)
    if want.tokens is not None:
        assert got.tokens.doc_ids == want.tokens.doc_ids
        for name in ("starts", "ends", "offsets", "codes", "vectors"):
            np.testing.assert_array_equal(getattr(got.tokens, name), getattr(want.tokens, name), err_msg=name)
        if want.tokens.codec is not None:
            np.testing.assert_array_equal(got.tokens.codec.centroids, want.tokens.codec.centroids)
    for key in ("vector_keys", "sentence_keys", "token_keys", "documents", "chunking", "counts"):
        assert got.manifest[key] == want.manifest[key], key


@pytest.mark.parametrize("backend", ["torch_embedder", "real_embedder"])  # torch; int8 ONNX
def test_encoding_order_names_the_batches_the_encoder_itself_makes(backend, request):
    embedder = request.getfixturevalue(backend)
    words = PHRASE.split()
    texts = [" ".join(words[: 1 + (7 * i) % len(words)]) for i in range(20)]  # 1 to 12 words, shuffled
    whole = embedder.encode(texts, batch_size=4)
    tokens = embedder.encode_tokens(texts, batch_size=4)

    order = encoding_order(embedder, texts)
    assert sorted(order) == list(range(20))
    by_run = np.zeros_like(whole)
    for start in range(0, 20, 4):  # each run of 4 encoded on its own, as one actor call of the pool
        run = order[start : start + 4]
        by_run[run] = embedder.encode([texts[i] for i in run], batch_size=4)
        for i, tv in zip(run, embedder.encode_tokens([texts[i] for i in run], batch_size=4), strict=True):
            np.testing.assert_array_equal(tv.vectors, tokens[i].vectors)
    np.testing.assert_array_equal(by_run, whole)  # bit for bit


@pytest.mark.ray
def test_a_two_node_ray_build_of_the_corpus_equals_the_local_build(sandbox, torch_embedder, tmp_path):
    local = Settings(corpus_dir=CORPUS, index_dir=tmp_path / "local", embed_backend="torch")
    build(local, torch_embedder)
    out = run_on_ray(CORPUS, tmp_path / "index", "--backend", "torch")
    assert "error" not in out, out
    assert_same_index(tmp_path / "index", local.index_dir)
    on_ray, here = (Pipeline.open(Settings(corpus_dir=CORPUS, index_dir=path, embed_backend="torch"),
                                  embedder=torch_embedder) for path in (tmp_path / "index", local.index_dir))
    for question in load_questions(QUESTIONS):
        got = [hit.chunk_id for hit in on_ray.search(question.question, k=10, mode="hybrid")]
        want = [hit.chunk_id for hit in here.search(question.question, k=10, mode="hybrid")]
        assert got == want, question.id


@pytest.mark.ray
def test_an_embedding_actor_dying_mid_build_is_retried_or_leaves_the_previous_index(
    sandbox, torch_embedder, tiny_corpus, tmp_path,
):
    local = Settings(corpus_dir=tiny_corpus, index_dir=tmp_path / "local", embed_backend="torch")
    build(local, torch_embedder)
    target = Settings(corpus_dir=tiny_corpus, index_dir=tmp_path / "index", embed_backend="torch")
    previous = build(target, torch_embedder).build_dir  # the build the failed one must not disturb
    (tiny_corpus / "added.txt").write_text(  # new passages and sentences: the pool has work to do
        "Ketamine was infused at 0.35 mg/kg/h for five days. Pain scores fell by half. "
        "Two patients reported vivid dreams.", encoding="utf-8")
    build(local, torch_embedder)
    marker = tmp_path / "crashed"

    out = run_on_ray(tiny_corpus, target.index_dir, "--crash-once", str(marker), "--backend", "torch")

    print("ray build after the crash:", out)  # shown by pytest -rP: retried, or failed cleanly
    assert marker.exists()  # an actor really died mid-build
    if "error" in out:  # failed cleanly: a clear message, and the previous build still loads
        assert out["type"] == "IndexBuildError" and "previous index is still current" in out["error"]
        assert load_index(target.index_dir).path == previous
    else:  # Ray restarted the actor and retried its batch: the build equals the local one
        assert_same_index(target.index_dir, local.index_dir)
