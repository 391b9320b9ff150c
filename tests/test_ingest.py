"""ingest: corpus files → RawDocument, with unreadable files reported and skipped.

PDFs are generated in tmp_path with reportlab (and encrypted with pypdf), so no binary fixtures.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import pytest
from pypdf import PdfReader, PdfWriter
from reportlab.pdfgen import canvas

from crps_qa.errors import IngestError
from crps_qa.ingest.read import SUPPORTED_SUFFIXES, doc_id_for, ingest_corpus, read_document

CORPUS = Path(__file__).resolve().parent.parent / "corpus"


def make_pdf(path: Path, *pages: str | None) -> Path:
    """One PDF page per argument: its text, or None for a page holding only a filled rectangle."""
    pdf = canvas.Canvas(str(path))
    for text in pages:
        if text is None:
            pdf.rect(100, 100, 200, 200, fill=1)
        else:
            pdf.drawString(72, 720, text)
        pdf.showPage()
    pdf.save()
    return path


def encrypt_pdf(source: Path, target: Path, user_password: str) -> Path:
    writer = PdfWriter(clone_from=PdfReader(source))
    writer.encrypt(user_password=user_password, owner_password="owner", algorithm="RC4-128")
    writer.write(target)
    return target


# ---- ids ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "doc_id"),
    [
        ("mackay-low-dose-ketamine-retrospective.txt", "mackay-low-dose-ketamine-retrospective"),
        ("Mackay 2004_Ketamine.PDF", "mackay-2004-ketamine"),
        ("--Erasmus (S-ketamine)--.md", "erasmus-s-ketamine"),
    ],
)
def test_doc_id_is_the_slugged_file_stem(name: str, doc_id: str) -> None:
    assert doc_id_for(Path("corpus") / name) == doc_id


# ---- text files --------------------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".txt", ".md"])
def test_text_file_is_one_unnumbered_page(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"Skin Temperature{suffix}"
    path.write_bytes("\ufeffBackground: Ketamine is increasingly being utilized off-label.\n".encode())
    doc = read_document(path)
    assert doc.doc_id == "skin-temperature"
    assert doc.path == str(path)
    assert doc.pages == ("Background: Ketamine is increasingly being utilized off-label.\n",)  # BOM dropped
    assert doc.has_page_numbers is False
    assert doc.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    ("data", "text", "encoding"),
    [
        (b"Caf\xe9 \x96 \x93effective dose\x94", "Café – “effective dose”", "cp1252"),
        (b"dose \x81 \xb1 2 mg", "dose \x81 ± 2 mg", "latin-1"),  # 0x81 is undefined in cp1252
    ],
)
def test_non_utf8_text_is_read_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, data: bytes, text: str, encoding: str
) -> None:
    path = tmp_path / "legacy.txt"
    path.write_bytes(data)
    with caplog.at_level(logging.WARNING, logger="crps_qa.ingest.read"):
        doc = read_document(path)
    assert doc.pages == (text,)
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert str(path) in caplog.text and encoding in caplog.text


@pytest.mark.parametrize("content", [b"", b" \n\n\t "])
def test_empty_text_file_is_an_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "empty.txt"
    path.write_bytes(content)
    with pytest.raises(IngestError, match=r"empty\.txt: the file is empty"):
        read_document(path)


def test_unsupported_suffix_is_an_error_naming_the_supported_ones(tmp_path: Path) -> None:
    path = tmp_path / "paper.docx"
    path.write_bytes(b"PK\x03\x04")
    with pytest.raises(IngestError, match=r"paper\.docx: unsupported file type '\.docx'") as excinfo:
        read_document(path)
    assert all(suffix in str(excinfo.value) for suffix in SUPPORTED_SUFFIXES)


# ---- PDFs ----------------------------------------------------------------------------------------------
def test_pdf_has_one_numbered_page_per_pdf_page(tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "cohort.pdf", "Ketamine page one.", "Page two: pain scores fell.")
    doc = read_document(path)
    assert doc.doc_id == "cohort"
    assert [page.strip() for page in doc.pages] == ["Ketamine page one.", "Page two: pain scores fell."]
    assert doc.has_page_numbers is True
    assert doc.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_pdf_encrypted_with_a_password_is_an_error(tmp_path: Path) -> None:
    plain = make_pdf(tmp_path / "plain.pdf", "Secret ketamine protocol.")
    locked = encrypt_pdf(plain, tmp_path / "locked.pdf", user_password="secret")
    with pytest.raises(IngestError, match=r"locked\.pdf: .*encrypted.*save an unencrypted copy"):
        read_document(locked)


def test_pdf_encrypted_with_an_empty_password_is_read(tmp_path: Path) -> None:
    plain = make_pdf(tmp_path / "plain.pdf", "Open ketamine protocol.")
    restricted = encrypt_pdf(plain, tmp_path / "restricted.pdf", user_password="")
    assert read_document(restricted).pages[0].strip() == "Open ketamine protocol."


def test_corrupt_pdf_is_an_error(tmp_path: Path) -> None:  # more bad PDFs: tests/test_pdf_errors.py
    path = tmp_path / "broken.pdf"
    path.write_bytes(b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog")
    with pytest.raises(IngestError, match=r"broken\.pdf: the PDF is corrupt or unreadable"):
        read_document(path)


def test_pdf_without_text_asks_for_ocr(tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "scan.pdf", None, None)
    with pytest.raises(IngestError, match=r"scan\.pdf: the PDF has no extractable text.*OCR.*ocrmypdf"):
        read_document(path)


# ---- corpus folders ------------------------------------------------------------------------------------
def test_ingest_corpus_keeps_good_files_and_reports_bad_ones(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    (corpus / "nested").mkdir(parents=True)
    (corpus / ".git").mkdir()
    (corpus / "b-dosing.txt").write_text("Ketamine was started at 10 mg/h.", encoding="utf-8")
    (corpus / "nested" / "c-notes.md").write_text("# Notes\n\nS-ketamine.", encoding="utf-8")
    make_pdf(corpus / "a-cohort.pdf", "Page one.", "Page two.")
    (corpus / "d-broken.pdf").write_bytes(b"%PDF-1.4 garbage")
    make_pdf(corpus / "e-scan.pdf", None)
    (corpus / "f-empty.txt").write_text("", encoding="utf-8")
    for ignored in [".hidden.txt", ".git/HEAD.txt", "catalog.json", "README.md", "readme.txt", "notes.docx"]:
        (corpus / ignored).write_text("not a document", encoding="utf-8")

    report = ingest_corpus(corpus)

    assert [d.doc_id for d in report.documents] == ["a-cohort", "b-dosing", "c-notes"]
    assert [Path(s.path).name for s in report.skipped] == ["d-broken.pdf", "e-scan.pdf", "f-empty.txt"]
    reasons = [s.reason for s in report.skipped]
    assert "corrupt" in reasons[0] and "OCR" in reasons[1] and "empty" in reasons[2]


def test_second_file_with_the_same_doc_id_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "Paper One.txt").write_text("First.", encoding="utf-8")
    (tmp_path / "paper_one.md").write_text("Second.", encoding="utf-8")
    report = ingest_corpus(tmp_path)
    assert [d.path for d in report.documents] == [str(tmp_path / "Paper One.txt")]
    (skipped,) = report.skipped
    assert skipped.path == str(tmp_path / "paper_one.md")
    assert all(part in skipped.reason for part in ("'paper-one'", "Paper One.txt", "rename"))


def test_missing_corpus_folder_is_an_error_saying_how_to_fix_it(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-corpus"
    with pytest.raises(IngestError, match=r"no-such-corpus does not exist; create it .* --corpus"):
        ingest_corpus(missing)


def test_the_real_corpus_ingests_without_skips() -> None:
    report = ingest_corpus(CORPUS)
    assert report.skipped == ()
    assert {d.doc_id for d in report.documents} >= {
        "amputation-ketamine-case-report",
        "chopra-iv-ketamine-for-crps",
        "erasmus-low-dose-s-ketamine-cohort",
        "ketamine-skin-temperature-case-report",
        "mackay-low-dose-ketamine-retrospective",
    }
