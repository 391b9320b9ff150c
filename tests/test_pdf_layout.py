"""Layout reading on a PDF that is not from TeX (reportlab, one text run per line), and page
numbers across page breaks: columns, running heads and feet, superscripts, pages joined."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

from crps_qa.ingest.chunk import chunk_document
from crps_qa.ingest.pages import join_pages, normalize_document
from crps_qa.ingest.read import read_document
from crps_qa.types import CleanDocument

LEFT = ["Ketamine was infused for five days in", "hospital. The starting dose was 10 mg/h", "and was raised each day."]
RIGHT = ["Pain scores fell from 8 to 3 by the", "end of the infusion. Nausea was the", "most common side effect."]


def two_column_pdf(path: Path, pages: int = 2) -> Path:
    """A4 pages: a running head and a page number in the margins, the right column drawn first (so
    content-stream order is not reading order), and a superscript citation after "hospital."."""
    pdf = canvas.Canvas(str(path), pagesize=A4)
    for number in range(1, pages + 1):
        pdf.setFont("Helvetica", 8)
        pdf.drawString(50, 805, "Ketamine in CRPS    J Pain Rep 2024;3:1-9")
        pdf.drawString(290, 30, str(number))
        pdf.setFont("Helvetica", 10)
        for i, line in enumerate(RIGHT):
            pdf.drawString(310, 740 - 12 * i, line)
        for i, line in enumerate(LEFT):
            if line.startswith("hospital."):  # "hospital.¹² The starting …", drawn in three runs
                after = 50 + pdf.stringWidth("hospital.", "Helvetica", 10)
                pdf.drawString(50, 728, "hospital.")
                pdf.setFont("Helvetica", 6)
                pdf.drawString(after + 0.5, 732, "12")
                pdf.setFont("Helvetica", 10)
                pdf.drawString(after + 7, 728, line.removeprefix("hospital."))
            else:
                pdf.drawString(50, 740 - 12 * i, line)
        pdf.showPage()
    pdf.save()
    return path


def test_columns_come_left_then_right_without_running_heads_or_page_numbers(tmp_path: Path) -> None:
    doc = read_document(two_column_pdf(tmp_path / "cohort.pdf"))
    assert doc.pages[0].split("\n") == [
        "Ketamine was infused for five days in", "hospital.[12] The starting dose was 10 mg/h",
        "and was raised each day.", *RIGHT,
    ]  # fmt: skip
    assert doc.pages[1] == doc.pages[0]


def test_a_one_column_page_keeps_its_lines_in_order(tmp_path: Path) -> None:
    pdf = canvas.Canvas(str(tmp_path / "note.pdf"), pagesize=A4)
    for i, line in enumerate(["Dosing note", "Ketamine 10 mg/h on day one,", "then 20 mg/h."]):
        pdf.drawString(72, 600 - 14 * i, line)
    pdf.save()
    assert read_document(tmp_path / "note.pdf").pages[0].split("\n") == [
        "Dosing note", "Ketamine 10 mg/h on day one,", "then 20 mg/h."
    ]  # fmt: skip


def test_a_paragraph_runs_on_over_a_page_break() -> None:
    text, starts = join_pages(["The dose was", "raised daily.", "Results", "Pain fell."], Counter())
    assert text == "The dose was raised daily.\n\nResults\n\nPain fell."
    assert starts == [0, len("The dose was "), text.index("Results"), text.index("Pain")]


def test_a_word_hyphenated_over_a_page_break_is_joined_and_the_page_starts_inside_it() -> None:
    text, starts = join_pages(["Pain relief lasted after treat-", "ment ended."], Counter({"treatment": 2}))
    assert text == "Pain relief lasted after treatment ended."
    assert starts == [0, text.index("ment ended")]


def test_a_true_hyphen_over_a_page_break_is_kept() -> None:
    text, _ = join_pages(["Patients received S-", "ketamine."], Counter())
    assert text == "Patients received S-ketamine."


def test_passages_and_page_span_name_the_first_and_last_page() -> None:
    doc = CleanDocument("d", "One two three. Four five six.", page_starts=(0, 15))
    assert doc.page_span(0, 14) == (1, None)
    assert doc.page_span(0, len(doc.text)) == (1, 2)
    assert doc.page_span(15, len(doc.text)) == (2, None)
    assert CleanDocument("t", "Plain text.").page_span(0, 5) == (None, None)
    (passage,) = chunk_document(doc)
    assert (passage.page, passage.page_end) == (1, 2)


def test_a_pdf_sentence_over_a_page_break_is_one_passage_with_both_pages(tmp_path: Path) -> None:
    pdf = canvas.Canvas(str(tmp_path / "two.pdf"), pagesize=A4)
    pdf.drawString(72, 600, "The infusion rate was raised from 10 mg/h")
    pdf.showPage()
    pdf.drawString(72, 600, "to 40 mg/h over five days.")
    pdf.save()
    doc = normalize_document(read_document(tmp_path / "two.pdf"))
    assert doc.text == "The infusion rate was raised from 10 mg/h to 40 mg/h over five days."
    (passage,) = chunk_document(doc)
    assert (passage.page, passage.page_end) == (1, 2)
