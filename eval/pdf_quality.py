"""How well the typeset test papers (tests/data/pdfs/) are read back, against their ground truth.

    python eval/pdf_quality.py                       # per-PDF table for the extractor crps-qa uses
    python eval/pdf_quality.py --compare             # one summary row per extractor (pypdf plain,
                                                     # pdfminer.six if installed, crps-qa's reader)
    python eval/pdf_quality.py --citations /tmp/pdf-index   # ask eval/questions.jsonl of an index
                                                     # built from these PDFs: are quotes exact and
                                                     # on the page TeX set them? (loads the model)

Per PDF, after the same cleaning and chunking the indexer does:

- recall: share of the source's sentences (whitespace normalised) found verbatim in the text;
- leaks: passages holding a running header or footer line (short title, journal line, footer);
- wrong pages: passages whose ``page`` (or ``page_end``) differs from the page TeX set their first
  (last) character on; ``located`` says how many passages could be placed in the ground truth;
- split/glued: share of extracted words that are not words of the source ("experi" + "enced",
  "cohortstudy", "e ective" from a lost ligature).
Targets (issue 17): recall >= 0.98, leaks 0, wrong pages 0, split/glued <= 0.2%.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from pypdf import PdfReader  # noqa: E402

from crps_qa.ingest.chunk import chunk_document  # noqa: E402
from crps_qa.ingest.pages import normalize_document  # noqa: E402
from crps_qa.ingest.pdf import read_pdf  # noqa: E402
from crps_qa.types import CleanDocument, Passage, RawDocument  # noqa: E402

PDFS = REPO / "tests" / "data" / "pdfs"
_WORD = re.compile(r"[^\W\d_]+")


def _squeeze(text: str) -> str:
    return " ".join(text.split())


def _pypdf_plain(path: Path) -> tuple[str, ...]:
    return tuple(page.extract_text() or "" for page in PdfReader(path).pages)


def _pdfminer(path: Path) -> tuple[str, ...]:
    from pdfminer.high_level import extract_pages  # noqa: PLC0415 - optional, only for --compare
    from pdfminer.layout import LTTextContainer  # noqa: PLC0415

    return tuple("\n\n".join(box.get_text() for box in page if isinstance(box, LTTextContainer))
                 for page in extract_pages(path))  # fmt: skip


def _crps_qa(path: Path) -> tuple[str, ...]:
    return read_pdf(path, path.read_bytes())


EXTRACTORS: dict[str, Callable[[Path], tuple[str, ...]]] = {
    "pypdf extract_text()": _pypdf_plain,
    "pdfminer.six extract_pages()": _pdfminer,
    "crps-qa (pypdf visitor)": _crps_qa,
}


def _locate(doc: CleanDocument, sentences: list[dict]) -> list[tuple[int, int, dict]]:
    """Spans of the ground-truth sentences in ``doc.text``, found in order (whitespace-insensitive)."""
    flat, where = [], []  # the text without whitespace runs, and each character's offset in doc.text
    for i, ch in enumerate(doc.text):
        if ch.isspace():
            if flat and flat[-1] != " ":
                flat.append(" ")
                where.append(i)
        else:
            flat.append(ch)
            where.append(i)
    squeezed, spans, cursor = "".join(flat), [], 0
    for sentence in sentences:
        at = squeezed.find(sentence["text"], cursor)
        if at < 0:
            at = squeezed.find(sentence["text"])
        if at >= 0:
            end = at + len(sentence["text"])
            spans.append((where[at], where[end - 1] + 1, sentence))
            cursor = end
    return spans


def _pages_ok(passage: Passage, spans: list[tuple[int, int, dict]]) -> bool | None:
    """True/False when the passage's first and last characters lie in located sentences, else None."""
    first = next((s for s in spans if s[0] <= passage.char_start < s[1]), None)
    last = next((s for s in spans if s[0] < passage.char_end <= s[1]), None)
    if first is None or last is None:
        return None
    return passage.page == first[2]["page"] and (passage.page_end or passage.page) == last[2]["page_end"]


def measure(stem: str, truth: dict, extract: Callable[[Path], tuple[str, ...]]) -> dict:
    path = PDFS / f"{stem}.pdf"
    raw = RawDocument(stem, str(path), extract(path), True, hashlib.sha256(path.read_bytes()).hexdigest())
    doc = normalize_document(raw)
    passages = chunk_document(doc)
    text = _squeeze(doc.text)
    found = sum(s["text"] in text for s in truth["sentences"])
    running = [*truth["header"], *truth["footer"]]
    leaks = sum(any(r in _squeeze(p.text) for r in running) for p in passages)
    spans = _locate(doc, truth["sentences"])
    checks = [_pages_ok(p, spans) for p in passages]
    catalog = json.loads((REPO / "corpus" / "catalog.json").read_text())["documents"]
    meta = " ".join(f"{d['title']} {d['authors'] or ''}" for d in catalog if d["doc_id"] == stem)
    vocabulary = {w.lower() for w in _WORD.findall(" ".join([*(s["text"] for s in truth["sentences"]), meta]))}
    words = [w.lower() for w in _WORD.findall(doc.text)]
    return {
        "pdf": f"{stem}.pdf", "pages": truth["pages"], "sentences": len(truth["sentences"]),
        "recall": found / len(truth["sentences"]), "leaks": leaks, "passages": len(passages),
        "located": sum(c is not None for c in checks), "wrong_pages": sum(c is False for c in checks),
        "spanning": sum(p.page_end is not None for p in passages),
        "split_glued": sum(w not in vocabulary for w in words) / max(len(words), 1),
    }  # fmt: skip


def per_pdf_table(rows: list[dict]) -> str:
    lines = ["| PDF | pages | sentences | recall | leaks | passages (located) | over 2 pages | wrong pages "
             "| split/glued |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for r in rows:
        lines.append(f"| {r['pdf']} | {r['pages']} | {r['sentences']} | {r['recall']:.3f} | {r['leaks']} "
                     f"| {r['passages']} ({r['located']}) | {r['spanning']} | {r['wrong_pages']} "
                     f"| {100 * r['split_glued']:.2f}% |")  # fmt: skip
    return "\n".join(lines)


def compare_table(results: dict[str, list[dict]]) -> str:
    lines = ["| extractor | min recall | leaks | wrong pages | max split/glued |", "|---|---:|---:|---:|---:|"]
    for name, rows in results.items():
        recall, split = min(r["recall"] for r in rows), max(r["split_glued"] for r in rows)
        lines.append(f"| {name} | {recall:.3f} | {sum(r['leaks'] for r in rows)} "
                     f"| {sum(r['wrong_pages'] for r in rows)} | {100 * split:.2f}% |")  # fmt: skip
    return "\n".join(lines)


def check_citations(index_dir: Path, truth: dict) -> str:
    """Ask every eval question of the index in ``index_dir`` and check each citation."""
    from crps_qa.evaluate.harness import load_questions  # noqa: PLC0415 - the model path only
    from crps_qa.pipeline import Pipeline  # noqa: PLC0415
    from crps_qa.settings import Settings  # noqa: PLC0415

    pipeline = Pipeline.open(Settings(index_dir=index_dir))
    answered = cited = inexact = spanning = checked = wrong = 0
    for question in load_questions(REPO / "eval" / "questions.jsonl"):
        answer = pipeline.ask(question.question)
        answered += not answer.refused
        for c in answer.citations:
            cited, spanning = cited + 1, spanning + (c.page_end is not None)
            inexact += pipeline.data.texts[c.doc_id].text[c.char_start : c.char_end] != c.quote
            pages = {(s["page"], s["page_end"]) for s in truth[c.doc_id]["sentences"] if s["text"] == _squeeze(c.quote)}
            if len(pages) == 1:  # the quote is one source sentence, set on one known page
                checked, wrong = checked + 1, wrong + ((c.page, c.page_end or c.page) != pages.pop())
    return (f"{answered} questions answered with {cited} citations ({spanning} over a page break); quote != "
            f"document_text[char_start:char_end]: {inexact}; of {checked} quotes that are one source sentence, "
            f"on a page other than TeX's: {wrong}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--compare", action="store_true", help="one summary row per extractor")
    parser.add_argument("--citations", type=Path, metavar="INDEX", help="check the citations of an index of the PDFs")
    args = parser.parse_args()
    truth = json.loads((PDFS / "truth.json").read_text(encoding="utf-8"))
    if args.citations:
        print(check_citations(args.citations, truth))
        return
    if not args.compare:
        print(per_pdf_table([measure(stem, t, _crps_qa) for stem, t in truth.items()]))
        return
    results = {}
    for name, extract in EXTRACTORS.items():
        try:
            results[name] = [measure(stem, t, extract) for stem, t in truth.items()]
        except ImportError:
            print(f"({name}: not installed, skipped; `pip install pdfminer.six==20251107` to include it)")
    print(compare_table(results))


if __name__ == "__main__":
    main()
