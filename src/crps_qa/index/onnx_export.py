"""The model as an ONNX file, exported once per model and backend and kept in a cache folder.

    path = exported_model(model_dir, Path("~/.cache/crps-qa/onnx"), "onnx-int8")
    session = open_session(path, threads=2)      # one per process and file

The graph takes ``input_ids`` and ``attention_mask`` (int64, batch × length) and returns
``tokens`` (batch × length × dimension, the transformer's last hidden state: the word-by-word
match's token vectors) and ``pooled`` (batch × dimension, their masked mean: the sentence vector,
not yet normalised), so one forward pass gives both.

``onnx-int8`` quantizes the weights of every MatMul to int8 after ``quant_pre_process``, one
scale per output channel. Measured on this corpus's 192 passages (bench/RESULTS.md): cosine to
float32 0.994 on average, 0.986 at worst; one scale per tensor instead gave 0.948 / 0.911.

The file is named by a hash of the model's weights and configuration, so a changed model is
exported again. An unreadable file (a crash mid-write, a damaged disk) is exported again, with a
warning, instead of failing. Nothing is downloaded: the export reads the installed weights.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Any

from crps_qa.errors import ModelError

log = logging.getLogger(__name__)

EXPORT_VERSION = 1  # bump when the graph or the quantization changes, so old files are not reused
OPSET = 17
_HASHED = ("config.json", "tokenizer.json", "sentence_bert_config.json", "1_Pooling/config.json")
_WEIGHTS = ("model.safetensors", "pytorch_model.bin")
_SESSIONS: dict[tuple[str, int], Any] = {}  # one inference session per file per process
_LOCK = threading.Lock()


def model_hash(model_dir: Path) -> str:
    """sha256 of the model's weights and configuration files (what the export depends on)."""
    digest = hashlib.sha256(f"export/{EXPORT_VERSION}".encode())
    weights = [n for n in _WEIGHTS if (model_dir / n).exists()][:1]
    if not weights:
        raise ModelError(f"No model weights ({' or '.join(_WEIGHTS)}) in {model_dir}. Set CRPS_QA_EMBED_BACKEND=torch "
                         "for a model stored another way.")
    for name in weights + [n for n in _HASHED if (model_dir / n).exists()]:
        digest.update(name.encode())
        with open(model_dir / name, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def exported_model(model_dir: Path, cache_dir: Path, backend: str) -> Path:
    """The ONNX file of the model for ``backend`` (onnx or onnx-int8), exported into
    ``cache_dir`` unless a readable one is already there."""
    cache_dir = cache_dir.expanduser()
    path = cache_dir / f"{model_dir.name}-{model_hash(model_dir)[:16]}-{backend}.onnx"
    if path.exists():
        problem = _unreadable(path)
        if problem is None:
            return path
        log.warning("The cached ONNX model %s is unreadable (%s); exporting it again.", path, problem)
        path.unlink(missing_ok=True)
    else:
        log.warning("Exporting the embedding model to ONNX (%s, once per model): %s", backend, path)
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".export-") as work:
        made = export(model_dir, Path(work), quantize=backend == "onnx-int8")
        os.replace(made, path)  # atomic: another process sees the old state or the whole file
    return path


def _unreadable(path: Path) -> str | None:
    """Why the file cannot serve as the model (None when it can)."""
    try:
        import onnx

        graph = onnx.load(str(path), load_external_data=False).graph
        outputs = [o.name for o in graph.output]
    except Exception as exc:  # noqa: BLE001 - a damaged file raises anything the parser can
        return f"{type(exc).__name__}: {exc}"
    return None if outputs == ["tokens", "pooled"] else f"outputs {outputs}"


def export(model_dir: Path, work: Path, *, quantize: bool) -> Path:
    """Export the transformer at ``model_dir`` into ``work`` (float32, or int8 weights with
    ``quantize``); returns the file's path."""
    try:
        import torch
        from transformers import AutoModel
    except ImportError as exc:  # pragma: no cover - both are dependencies
        raise ModelError(f"Exporting the model to ONNX needs torch and transformers: {exc}") from exc
    model = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager").eval()

    class Encoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask):  # noqa: ANN001, ANN202 - traced, not called
            tokens = self.model(input_ids=input_ids, attention_mask=attention_mask,
                                token_type_ids=torch.zeros_like(input_ids)).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(tokens.dtype)
            return tokens, (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)

    ids = torch.tensor([[101, 7592, 2088, 102], [101, 7592, 102, 0]])  # two rows, one padded
    fp32 = work / "fp32.onnx"
    axes = {"input_ids": {0: "batch", 1: "length"}, "attention_mask": {0: "batch", 1: "length"},
            "tokens": {0: "batch", 1: "length"}, "pooled": {0: "batch"}}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the tracer's notes on Python branches it fixes
        torch.onnx.export(Encoder(), (ids, (ids > 0).long()), str(fp32), input_names=["input_ids", "attention_mask"],
                          output_names=["tokens", "pooled"], dynamic_axes=axes, opset_version=OPSET, dynamo=False)
    if not quantize:
        return fp32
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    prepared, int8 = work / "prepared.onnx", work / "int8.onnx"
    quant_pre_process(str(fp32), str(prepared), skip_symbolic_shape=True)
    quantize_dynamic(str(prepared), str(int8), per_channel=True, weight_type=QuantType.QInt8)
    return int8


def open_session(path: Path, *, threads: int) -> Any:
    """The process's ONNX Runtime session for ``path`` with ``threads`` intra-op threads."""
    import onnxruntime as ort

    with _LOCK:
        key = (str(path), threads)
        if key not in _SESSIONS:
            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            # idle threads sleep instead of spinning: on a machine shared with other work, spinning
            # threads took the cores from the one doing the work (~5x slower under load)
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            _SESSIONS[key] = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        return _SESSIONS[key]


def cpu_threads(setting: int) -> int:
    """The intra-op thread count: the setting, or one per core this process may run on."""
    return setting or len(os.sched_getaffinity(0))
