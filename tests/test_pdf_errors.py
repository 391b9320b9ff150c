"""Bad PDFs fail one by one, each with its own named error that says what to do, while the rest
of the folder is indexed. Every bad file is made here, in tmp_path, in milliseconds."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from PIL import Image
from pypdf import PdfReader, PdfWriter
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen import canvas

from crps_qa.errors import (
    IngestError,
    NotAPdfError,
    PdfCorruptError,
    PdfEmptyError,
    PdfEncryptedError,
    PdfNoTextError,
    PdfTooLongError,
)
from crps_qa.ingest.read import ingest_corpus, read_document


def text_pdf(path: Path, text: str = "Ketamine was infused at 10 mg/h.") -> Path:
    pdf = canvas.Canvas(str(path))
    pdf.drawString(72, 400, text)
    pdf.save()
    return path


def encrypted(path: Path) -> Path:
    writer = PdfWriter(clone_from=PdfReader(text_pdf(path.with_suffix(".plain"))))
    writer.encrypt(user_password="secret", owner_password="owner", algorithm="RC4-128")  # no `cryptography` needed
    writer.write(path)
    return path


def corrupt(path: Path) -> Path:
    data = text_pdf(path.with_suffix(".whole")).read_bytes()
    path.write_bytes(data[: len(data) // 3])  # a download cut off after a third
    return path


def zero_pages(path: Path) -> Path:
    PdfWriter().write(path)
    return path


def scanned(path: Path) -> Path:
    """Two pages that are photographs of text: an image each, no text layer."""
    page = Image.new("L", (200, 280), 255)
    page.paste(0, (20, 20, 180, 30))  # a dark bar where a line of print would be
    pdf = canvas.Canvas(str(path))
    for _ in range(2):
        pdf.drawImage(ImageReader(page), 50, 100, width=400, height=560)
        pdf.showPage()
    pdf.save()
    return path


def book(path: Path, pages: int = 500) -> Path:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=420, height=595)
    writer.write(path)
    return path


def png_named_pdf(path: Path) -> Path:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, format="PNG")
    path.write_bytes(buffer.getvalue())
    return path


def docx_named_pdf(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("word/document.xml", "<w:document/>")
    return path


def html_named_pdf(path: Path) -> Path:
    path.write_text("<!DOCTYPE html><html><body>Access denied</body></html>", encoding="utf-8")
    return path


CASES = [  # (maker, error, what the message must say)
    (encrypted, PdfEncryptedError, r"encrypted with a password; save an unencrypted copy .*qpdf --decrypt"),
    (corrupt, PdfCorruptError, r"corrupt or unreadable .*; re-download or re-export it"),
    (zero_pages, PdfEmptyError, r"has no pages; re-export it"),
    (scanned, PdfNoTextError, r"no extractable text: its 2 page\(s\) are images \(a scan\?\); run OCR .*ocrmypdf"),
    (book, PdfTooLongError, r"has 500 pages, more than the 300 .*split it into chapters"),
    (png_named_pdf, NotAPdfError, r"is a PNG image, not a PDF .*add the real PDF"),
    (docx_named_pdf, NotAPdfError, r"is a ZIP archive \(a Word \.docx\?\), not a PDF"),
    (html_named_pdf, NotAPdfError, r"is an HTML page, not a PDF"),
]  # fmt: skip


@pytest.mark.parametrize(("make", "error", "message"), CASES, ids=[c[0].__name__ for c in CASES])
def test_each_bad_pdf_raises_its_named_error_with_the_fix(tmp_path, make, error, message) -> None:
    path = make(tmp_path / "paper.pdf")
    with pytest.raises(error, match=message) as excinfo:
        read_document(path)
    assert str(excinfo.value).startswith(f"{path}: ")
    assert isinstance(excinfo.value, IngestError)  # so the indexer skips the file and goes on


def test_an_empty_file_named_pdf_says_it_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "paper.pdf"
    path.write_bytes(b"")
    with pytest.raises(NotAPdfError, match=r"the file is empty"):
        read_document(path)


def test_the_page_limit_can_be_raised_for_one_call(tmp_path: Path) -> None:
    from crps_qa.ingest.pdf import read_pdf

    path = book(tmp_path / "short-book.pdf", pages=3)
    with pytest.raises(PdfTooLongError, match="has 3 pages, more than the 2"):
        read_pdf(path, path.read_bytes(), max_pages=2)
    with pytest.raises(PdfNoTextError):  # within the limit it is read (and its blank pages have no text)
        read_pdf(path, path.read_bytes(), max_pages=3)


def test_a_folder_with_every_bad_pdf_still_indexes_the_good_one(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    text_pdf(corpus / "good.pdf")
    for make, _, _ in CASES:
        make(corpus / f"bad-{make.__name__}.pdf")
    for leftover in [*corpus.glob("*.plain"), *corpus.glob("*.whole")]:
        leftover.unlink()

    report = ingest_corpus(corpus)

    assert [d.doc_id for d in report.documents] == ["good"]
    assert "Ketamine was infused at 10 mg/h." in report.documents[0].pages[0]
    reasons = {Path(s.path).stem.removeprefix("bad-"): s.reason for s in report.skipped}
    assert sorted(reasons) == sorted(make.__name__ for make, _, _ in CASES)
    assert "OCR" in reasons["scanned"] and "500 pages" in reasons["book"] and "password" in reasons["encrypted"]
