"""A receipt for every answer: what produced it, so it can be replayed later and either shown
identical or shown exactly what changed (a paper, a setting, the index build, the model).

    receipt = make_receipt(pipeline, answer, request)          # JSON-ready dict, part of /ask
    result = replay(receipt, pipeline)                          # asks again under today's setup
    result.identical, result.differences                        # True, () — or what differs

A receipt holds no clock time, so the same question over the same index, model and settings
gives the same receipt. Hashes are SHA-256 hex digests: the index manifest (canonical JSON), each paper's file bytes
(as indexed), each cited passage's text and quote, the answer text and the model's weight files.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from crps_qa.errors import QueryError
from crps_qa.pipeline import Pipeline
from crps_qa.search.filters import EvidenceFilter
from crps_qa.settings import Settings
from crps_qa.types import Answer

RECEIPT_VERSION = 1
# Settings that cannot change what is ranked or answered: where things are, how fast or in what
# batches they are computed, how the services are reached, the limits a request is checked
# against. Every other setting is in a receipt, so a setting added later is recorded by default.
NOT_ANSWER_SETTINGS = frozenset({
    "corpus_dir", "index_dir", "embed_cache_dir", "embed_threads", "second_opinion_dir", "max_k",
    "max_query_chars", "batch_size", "index_batch_documents", "api_host", "api_port", "ui_port", "api_url",
})
ANSWER_SETTINGS = tuple(name for name in Settings.model_fields if name not in NOT_ANSWER_SETTINGS)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class AskRequest:
    """What a caller asked: the question as typed and the options it was asked with."""

    question: str
    k: int | None = None
    mode: str = "hybrid"
    doc_ids: tuple[str, ...] = ()
    correct: bool = True
    filters: EvidenceFilter = field(default_factory=EvidenceFilter)

    def run(self, pipeline: Pipeline) -> Answer:
        """Ask ``pipeline``: the filters narrow the documents searched, then the usual ask."""
        doc_ids = self.filters.resolve(pipeline.data.documents, self.doc_ids) if self.filters else self.doc_ids
        return pipeline.ask(self.question, k=self.k, mode=self.mode, doc_ids=doc_ids, correct=self.correct)

    def to_dict(self) -> dict[str, Any]:
        return {"question": self.question, "k": self.k, "mode": self.mode, "doc_ids": list(self.doc_ids),
                "correct_spelling": self.correct, "filters": self.filters.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AskRequest:
        filters = data.get("filters") or {}
        return cls(data["question"], data.get("k"), data.get("mode", "hybrid"), tuple(data.get("doc_ids") or ()),
                   bool(data.get("correct_spelling", True)), EvidenceFilter.of(**filters))


def model_fingerprint(pipeline: Pipeline) -> dict[str, Any]:
    """Name, backend and weights hash of the pipeline's model (the hash is cached on the embedder)."""
    embedder = pipeline.embedder
    return {"name": embedder.name, "backend": getattr(embedder, "backend", type(embedder).__name__),
            "weights_sha256": getattr(embedder, "weights_sha256", None)}


def answer_settings(settings: Settings) -> dict[str, Any]:
    """The settings that shape an answer, as JSON has them (a tuple becomes a list), so a receipt read
    back from a file compares equal to a fresh one."""
    return json.loads(json.dumps({name: getattr(settings, name) for name in ANSWER_SETTINGS}))


def make_receipt(pipeline: Pipeline, answer: Answer, request: AskRequest) -> dict[str, Any]:
    """The receipt of ``answer``, which ``request.run(pipeline)`` returned."""
    from crps_qa import __version__

    data = pipeline.data
    manifest = json.dumps(data.manifest, sort_keys=True, ensure_ascii=False)
    passages = {p.chunk_id: p for p in answer.passages}
    return {
        "receipt_version": RECEIPT_VERSION,
        "crps_qa_version": __version__,
        "index": {"build_id": data.build_id, "manifest_sha256": sha256(manifest),
                  "built_at": data.manifest.get("built_at")},
        "model": model_fingerprint(pipeline),
        "settings": answer_settings(pipeline.settings),
        "request": request.to_dict(),
        "searched": answer.query or answer.question,
        "papers": {doc_id: d.get("sha256") for doc_id, d in sorted(data.manifest.get("documents", {}).items())},
        "answer": {"refused": answer.refused, "sha256": sha256(answer.answer)},
        "citations": [
            {"marker": c.marker, "chunk_id": c.chunk_id, "doc_id": c.doc_id, "char_start": c.char_start,
             "char_end": c.char_end, "quote_sha256": sha256(c.quote),
             "passage_sha256": sha256(passages[c.chunk_id].text) if c.chunk_id in passages else None}
            for c in answer.citations
        ],
    }


@dataclass(frozen=True)
class Difference:
    kind: str  # "version" | "model" | "index build" | "paper" | "setting" | "question" | "answer" | "citation"
    what: str
    before: Any
    after: Any

    def __str__(self) -> str:
        return f"{self.kind} {self.what}: {_short(self.before)} → {_short(self.after)}"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "what": self.what, "before": self.before, "after": self.after}


@dataclass(frozen=True)
class Replay:
    differences: tuple[Difference, ...]
    receipt: dict[str, Any]  # the new one

    @property
    def identical(self) -> bool:
        return not self.differences

    def to_dict(self) -> dict[str, Any]:
        return {"identical": self.identical, "differences": [d.to_dict() for d in self.differences],
                "receipt": self.receipt}


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
    return text[:12] + "…" if len(text) == 64 and all(c in "0123456789abcdef" for c in text) else text


def read_receipt(data: Any) -> dict[str, Any]:
    """The receipt in ``data``: a receipt, or a whole ``ask --json`` / ``POST /ask`` answer holding one."""
    receipt = data.get("receipt", data) if isinstance(data, dict) else None
    if not isinstance(receipt, dict) or receipt.get("receipt_version") != RECEIPT_VERSION or "request" not in receipt:
        raise QueryError("This is not a crps-qa receipt (version 1). Save the `receipt` of "
                         "`crps-qa ask --json` or of POST /ask, and replay that.")
    return receipt


def compare(old: dict[str, Any], new: dict[str, Any]) -> tuple[Difference, ...]:
    """Everything that differs between two receipts, environment first, then the answer."""
    found: list[Difference] = []

    def differ(kind: str, what: str, before: Any, after: Any) -> None:
        if before != after:
            found.append(Difference(kind, what, before, after))

    differ("version", "crps-qa", old["crps_qa_version"], new["crps_qa_version"])
    for key in ("name", "backend", "weights_sha256"):
        differ("model", key, old["model"].get(key), new["model"].get(key))
    differ("index build", "build_id", old["index"]["build_id"], new["index"]["build_id"])
    for doc_id in sorted(set(old["papers"]) | set(new["papers"])):
        differ("paper", doc_id, old["papers"].get(doc_id), new["papers"].get(doc_id))
    for key in sorted(set(old["settings"]) | set(new["settings"])):
        differ("setting", key, old["settings"].get(key), new["settings"].get(key))
    differ("question", "searched as", old["searched"], new["searched"])
    differ("answer", "refused", old["answer"]["refused"], new["answer"]["refused"])
    differ("answer", "text", old["answer"]["sha256"], new["answer"]["sha256"])
    _citations(old["citations"], new["citations"], differ)
    return tuple(found)


def _citations(old: Sequence[dict], new: Sequence[dict], differ: Any) -> None:
    keys = ("chunk_id", "doc_id", "char_start", "char_end", "quote_sha256", "passage_sha256")
    for i in range(max(len(old), len(new))):
        before = {k: old[i][k] for k in keys} if i < len(old) else None
        after = {k: new[i][k] for k in keys} if i < len(new) else None
        if before and after:
            for key in keys:
                differ("citation", f"[{i + 1}] {key}", before[key], after[key])
        else:
            differ("citation", f"[{i + 1}]", before, after)


def replay(receipt: dict[str, Any], pipeline: Pipeline) -> Replay:
    """Ask the receipt's question again with its options, under the pipeline's index, model and settings."""
    receipt = read_receipt(receipt)
    request = AskRequest.from_dict(receipt["request"])
    answer = request.run(pipeline)
    new = make_receipt(pipeline, answer, request)
    return Replay(compare(receipt, new), new)
