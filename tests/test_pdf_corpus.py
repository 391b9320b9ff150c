"""The five papers as two-column PDFs (tests/data/pdfs/) instead of text files, with the real model:
retrieval is as good as on the text corpus, and every citation still quotes its document exactly
and names the page it is on."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from crps_qa.evaluate.harness import evaluate_retrieval, load_questions
from crps_qa.settings import Settings

pytestmark = pytest.mark.model

REPO = Path(__file__).resolve().parent.parent
PDFS = REPO / "tests" / "data" / "pdfs"
QUESTIONS = REPO / "eval" / "questions.jsonl"
HIT5_MARGIN = 0.02  # issue 17: hybrid hit@5 on the PDFs within 0.02 of the text corpus


@pytest.fixture(scope="session")
def pdf_pipeline(tmp_path_factory, real_embedder):
    from crps_qa.index.build import build
    from crps_qa.pipeline import Pipeline

    corpus = tmp_path_factory.mktemp("pdf-corpus")
    for pdf in PDFS.glob("*.pdf"):
        shutil.copy(pdf, corpus / pdf.name)
    shutil.copy(REPO / "corpus" / "catalog.json", corpus / "catalog.json")
    settings = Settings(corpus_dir=corpus, index_dir=tmp_path_factory.mktemp("pdf-index") / "index")
    build(settings, real_embedder)
    return Pipeline.open(settings, embedder=real_embedder)


def test_the_pdfs_index_as_the_same_documents_with_pages(pdf_pipeline, real_pipeline):
    data = pdf_pipeline.data
    assert sorted(data.documents) == sorted(real_pipeline.data.documents)
    assert all(p.page is not None for p in data.passages)
    assert any(p.page_end == p.page + 1 for p in data.passages)
    for passage in data.passages:
        assert data.texts[passage.doc_id].text[passage.char_start : passage.char_end] == passage.text


def test_hybrid_hit_at_5_is_within_002_of_the_text_corpus(pdf_pipeline, real_pipeline):
    questions = load_questions(QUESTIONS)
    on_pdfs = evaluate_retrieval(pdf_pipeline.analyzer, pdf_pipeline.retriever, questions, modes=["hybrid"])
    on_text = evaluate_retrieval(real_pipeline.analyzer, real_pipeline.retriever, questions, modes=["hybrid"])
    pdf_hit5, text_hit5 = on_pdfs.metrics["hybrid"]["hit_rate@5"], on_text.metrics["hybrid"]["hit_rate@5"]
    assert pdf_hit5 >= text_hit5 - HIT5_MARGIN, on_pdfs.misses["hybrid"]


def test_every_citation_quotes_its_pdf_document_exactly_on_the_page_tex_set_it(pdf_pipeline):
    data = pdf_pipeline.data
    truth = json.loads((PDFS / "truth.json").read_text(encoding="utf-8"))
    answered = checked = 0
    for question in load_questions(QUESTIONS, split="dev"):
        answer = pdf_pipeline.ask(question.question)
        for citation in answer.citations:
            assert data.texts[citation.doc_id].text[citation.char_start : citation.char_end] == citation.quote
            quote = " ".join(citation.quote.split())
            pages = {(s["page"], s["page_end"]) for s in truth[citation.doc_id]["sentences"] if s["text"] == quote}
            if len(pages) == 1:  # the quote is one sentence of the source, set on one known page
                assert (citation.page, citation.page_end or citation.page) == pages.pop(), quote
                checked += 1
        for hit in answer.passages:
            assert hit.to_dict()["page"] is not None and "page_end" in hit.to_dict()
        answered += not answer.refused
    assert answered >= 20 and checked >= 40
