"""PDF bytes → one text per page, read like a person reads a journal article.

    >>> pages = read_pdf(Path("cohort.pdf"), data)   # ("Title\\nAbstract\\n…", "…", …)

Text comes from pypdf's visitor (each piece of text with its position and font size), so that:

- two-column pages are read column by column (left column top to bottom, then the right one);
- running headers, footers and page numbers are dropped: lines in the top or bottom 12% of the
  page that repeat on other pages (digits ignored: "3", "Page 4 of 9"), that are bare page
  numbers, or that stand apart from the body by a wide gap;
- superscript citation numbers become bracketed, "lesion.¹,²" → "lesion.[1,2]", instead of
  gluing onto the word ("lesion.1,2", "years3,4");
- a new paragraph (indented first line or a wider gap above) starts after a blank line, which
  is what :func:`crps_qa.ingest.normalize.clean_text` reads as a paragraph break.

Line-end hyphens and ligatures are left to ``clean_text``. pypdf's own ``extract_text()`` was
measured and glues the words of tightly set lines ("cohortstudyinwhichweaimed"); see eval/PDF.md.

Bad files raise a named :class:`~crps_qa.errors.IngestError` that says what to do: not a PDF,
corrupt, encrypted, no pages, too many pages (a book), or no text layer (a scan, needs OCR).
"""

from __future__ import annotations

import io
import math
import re
import statistics
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from pypdf import PdfReader
from pypdf.errors import DependencyError
from pypdf.generic import ArrayObject, FloatObject

from crps_qa.errors import (
    IngestError,
    NotAPdfError,
    PdfCorruptError,
    PdfEmptyError,
    PdfEncryptedError,
    PdfNoTextError,
    PdfTooLongError,
)

MAX_PAGES = 300  # a journal article has < 40 pages; a 500-page book should be split into chapters
_WORD_GAP = 160  # TJ offsets (1/1000 em) at least this wide are word gaps, see _mark_word_gaps
_MARGIN = 0.12  # running headers and footers sit in the top and bottom 12% of the page
_PAGE_NUMBER = re.compile(r"(?:page )?\d{1,4}(?: (?:of|/) \d{1,4})?|[ivxlc]{1,6}", re.I)
_CITATION = re.compile(r"\d{1,3}(?:[,–-]\s?\d{1,3})*")
_SIGNATURES = (  # what a ".pdf" that is not a PDF usually is, by its first bytes
    (b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"GIF8", "a GIF image"),
    (b"II*\x00", "a TIFF image"), (b"MM\x00*", "a TIFF image"), (b"PK\x03\x04", "a ZIP archive (a Word .docx?)"),
    (b"\xd0\xcf\x11\xe0", "an old Word/Office file (.doc)"), (b"{\\rtf", "an RTF document"),
)  # fmt: skip


@dataclass
class _Line:
    text: str
    x: float  # where the line starts
    y: float  # its baseline
    size: float  # its font size
    column: int = 0


def read_pdf(path: Path, data: bytes, *, max_pages: int = MAX_PAGES) -> tuple[str, ...]:
    """One text per page (lines in reading order, blank line between paragraphs); see the module."""
    reader = _open(path, data)
    try:
        count = len(reader.pages)
    except Exception as exc:  # a broken page tree shows up only here
        raise _corrupt(path, exc) from exc
    if count == 0:
        raise PdfEmptyError(f"{path}: the PDF has no pages; re-export it from the original or delete it")
    if count > max_pages:
        raise PdfTooLongError(
            f"{path}: the PDF has {count} pages, more than the {max_pages} a paper can have (a book?); "
            "split it into chapters (e.g. `qpdf --split-pages=30 book.pdf chapter-%d.pdf`) and add those"
        )
    try:
        pages = [(_page_lines(page), float(page.mediabox.height), float(page.mediabox.width))
                 for page in reader.pages]  # fmt: skip
    except DependencyError as exc:
        raise PdfEncryptedError(f"{path}: the PDF is encrypted and needs `pip install cryptography` "
                                f"to open ({exc}); install it or save an unencrypted copy") from exc  # fmt: skip
    except Exception as exc:  # pypdf raises many types (PdfReadError, KeyError, zlib.error…) on broken files
        raise _corrupt(path, exc) from exc
    if not any(line.text.strip() for lines, _, _ in pages for line in lines):
        raise PdfNoTextError(
            f"{path}: the PDF has no extractable text: its {count} page(s) are images (a scan?); run OCR "
            "(e.g. `ocrmypdf in.pdf out.pdf`) and add the result"
        )
    running = _running_lines(pages)
    return tuple(_page_text([ln for ln in lines if not _is_running(ln, height, running, lines)], width)
                 for lines, height, width in pages)  # fmt: skip


def _open(path: Path, data: bytes) -> PdfReader:
    if b"%PDF-" not in data[:1024]:
        kind = next((name for magic, name in _SIGNATURES if data.startswith(magic)), None)
        if kind is None:
            head = data[:512].lstrip().lower()
            kind = "an HTML page" if head.startswith((b"<!doctype html", b"<html")) else (
                "empty" if not data.strip() else "not a PDF")  # fmt: skip
        what = "is empty" if kind == "empty" else f"is {kind}, not a PDF" if kind != "not a PDF" else "is not a PDF"
        raise NotAPdfError(f"{path}: the file {what} (it has no %PDF header); "
                           "add the real PDF of the paper, or give the file its true extension")  # fmt: skip
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):  # many PDFs only restrict printing/editing
            raise PdfEncryptedError(
                f"{path}: the PDF is encrypted with a password; save an unencrypted copy "
                "(e.g. print to PDF or `qpdf --decrypt`) and add that instead"
            )
    except IngestError:
        raise
    except DependencyError as exc:
        raise PdfEncryptedError(f"{path}: the PDF is encrypted and needs `pip install cryptography` "
                                f"to open ({exc}); install it or save an unencrypted copy") from exc  # fmt: skip
    except Exception as exc:
        raise _corrupt(path, exc) from exc
    return reader


def _corrupt(path: Path, exc: Exception) -> PdfCorruptError:
    return PdfCorruptError(f"{path}: the PDF is corrupt or unreadable ({type(exc).__name__}: {exc}); "
                           "re-download or re-export it and add it again")  # fmt: skip


def _page_lines(page) -> list[_Line]:  # noqa: ANN001 - a pypdf PageObject
    """The page's lines in content-stream order; superscript numbers bracketed onto their line."""
    lines: list[_Line] = []
    half = float(page.mediabox.width) / 2
    left, bottom = float(page.mediabox.left), float(page.mediabox.bottom)  # positions from the page's corner

    def visit(text: str, cm: list[float], tm: list[float], _font: object, font_size: float) -> None:
        if not text.strip():
            return
        x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4] - left
        y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5] - bottom
        size = abs(font_size * math.hypot(tm[2], tm[3]) * math.hypot(cm[2], cm[3])) or 1.0
        for i, piece in enumerate(text.split("\n")):
            if piece.strip():
                _add(lines, piece, x, y - i * 1.2 * size, size, half)

    page.extract_text(visitor_text=visit, visitor_operand_before=_mark_word_gaps)
    return lines


def _mark_word_gaps(operator: bytes, operands: list, _cm: object, _tm: object) -> None:
    """Make every word gap in a TJ array wide enough for pypdf to see it as a space.

    pdfTeX sets a justified line as one TJ array whose word gaps are offsets ("[(cohort)-222(study)]",
    in 1/1000 em); pypdf counts an offset as a space only past half the width of the font's space
    glyph, which in T1-encoded fonts is the wide visible space "␣", so tight lines lose their spaces
    ("cohortstudyinwhichweaimed"). Kerns stay under 0.12 em, the tightest word gap is 0.22 em: any
    offset past 0.16 em becomes -1000 followed by a +(1000 - gap) kern, so the pen ends up where it did.
    """
    if operator != b"TJ" or not operands or not isinstance(operands[0], ArrayObject):
        return
    rewritten: list = []
    for item in operands[0]:
        if isinstance(item, (int, float)) and -1000 < float(item) <= -_WORD_GAP:
            rewritten += [FloatObject(-1000), FloatObject(1000 + float(item))]
        else:
            rewritten.append(item)
    operands[0][:] = rewritten


def _add(lines: list[_Line], text: str, x: float, y: float, size: float, half: float) -> None:
    cur = lines[-1] if lines else None
    if cur is not None:
        raised = y - cur.y
        if size < 0.85 * cur.size and 0.15 * cur.size < raised <= 0.7 * cur.size and x > cur.x:
            core = text.strip()  # a superscript: "¹,²" → "[1,2]"; "th" in "4th" stays plain
            cur.text += f"[{core}]" if _CITATION.fullmatch(core) else core
            return
        across = (x >= half) != (cur.x >= half) and abs(x - cur.x) > 0.4 * half
        if abs(raised) <= 0.35 * cur.size and not across:
            # pypdf puts the spaces between words into the pieces themselves; two make one
            spaced = cur.text.endswith(" ") or text.startswith(" ")
            cur.text = f"{cur.text.rstrip()} {text.lstrip()}" if spaced else cur.text + text
            return
    lines.append(_Line(text, x, y, size))


def _masked(text: str) -> str:
    return re.sub(r"\d+", "#", " ".join(text.lower().split()))


def _running_lines(pages: list[tuple[list[_Line], float, float]]) -> set[str]:
    """Digit-masked texts of margin lines that repeat on two or more pages: running heads and feet."""
    seen: Counter[str] = Counter()
    for lines, height, _ in pages:
        seen.update({_masked(ln.text) for ln in lines if _in_margin(ln, height)})
    return {text for text, n in seen.items() if n >= 2} if len(pages) >= 2 else set()


def _in_margin(line: _Line, height: float) -> bool:
    return line.y > (1 - _MARGIN) * height or line.y < _MARGIN * height


def _is_running(line: _Line, height: float, running: set[str], lines: list[_Line]) -> bool:
    """A header, footer or page number: see the module docstring."""
    if not _in_margin(line, height):
        return False
    if _masked(line.text) in running or _PAGE_NUMBER.fullmatch(line.text.strip()):
        return True
    top = line.y > height / 2  # the outermost line(s), set apart from the body by a wide gap
    inner = [ln.y for ln in lines if (ln.y < line.y - 1 if top else ln.y > line.y + 1)]
    outer = [ln for ln in lines if (ln.y > line.y + 1 if top else ln.y < line.y - 1)]
    if outer or not inner:
        return False
    gap = line.y - max(inner) if top else min(inner) - line.y
    return gap > 2.2 * line.size


def _page_text(lines: list[_Line], width: float) -> str:
    """Lines in reading order; a blank line before each paragraph that starts with an indent or a gap."""
    if not lines:
        return ""
    half = width / 2
    right = [ln for ln in lines if ln.x >= half]
    starts = Counter(round(ln.x) for ln in right)
    two_columns = len(right) >= 3 and len(lines) - len(right) >= 3 and starts.most_common(1)[0][1] >= 3
    for ln in lines:
        ln.column = int(two_columns and ln.x >= half)
    ordered = sorted(lines, key=lambda ln: (ln.column, -round(ln.y, 1)))
    pitches = [a.y - b.y for a, b in zip(ordered, ordered[1:], strict=False)
               if a.column == b.column and 0 < a.y - b.y < 3 * a.size]  # fmt: skip
    pitch = statistics.median(pitches) if pitches else 12.0
    left_edge = {c: Counter(round(ln.x) for ln in ordered if ln.column == c).most_common(1)[0][0]
                 for c in {ln.column for ln in ordered}}  # fmt: skip
    out: list[str] = []
    prev: _Line | None = None
    for ln in ordered:
        if prev is not None and prev.column == ln.column:
            gap = prev.y - ln.y > 1.45 * pitch
            indent = 0.5 * ln.size < ln.x - left_edge[ln.column] < 4 * ln.size
            if gap or indent:
                out.append("")
        out.append(ln.text.strip())
        prev = ln
    return "\n".join(out)
