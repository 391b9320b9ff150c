"""Cleaned pages → one ``CleanDocument``: ``RawDocument`` in, text with page starts and sections out.

Each page is cleaned on its own (:func:`crps_qa.ingest.normalize.clean_text`), so every offset
maps to exactly one page; then the pages are joined, with a space rather than a blank line where a
paragraph runs on over the page break, so that a sentence split by a page break is one sentence
and its passage gets ``page`` and ``page_end``.
"""

from __future__ import annotations

import re
from collections import Counter

from crps_qa.ingest.normalize import (
    _W,
    _heading_title,
    _hyphen_glue,
    _is_closed,
    _starts_block,
    build_vocabulary,
    clean_text,
    detect_sections,
)
from crps_qa.types import CleanDocument, RawDocument


def normalize_document(raw: RawDocument) -> CleanDocument:
    """Clean each page, join pages, record page starts and sections.

    Pages are cleaned one at a time, so every offset maps to exactly one page, and then joined
    with a blank line, unless a paragraph runs on over the page break: "… the dose was" /
    "raised …" joins with a space and "treat-" / "ment" into "treatment" (see :func:`join_pages`).
    """
    vocab = build_vocabulary("\n".join(raw.pages))
    text, starts = join_pages([clean_text(page, vocab) for page in raw.pages], vocab)
    return CleanDocument(
        doc_id=raw.doc_id,
        text=text,
        page_starts=tuple(starts) if raw.has_page_numbers else (),
        sections=detect_sections(text),
    )


def join_pages(pages: list[str], vocab: Counter[str]) -> tuple[str, list[int]]:
    """Cleaned pages → one text and the offset where each page starts.

    A page starting with a lower-case word, or after a page that stopped mid-sentence (no
    closing punctuation, and the new page does not open with a heading, caption or list item),
    continues the paragraph. A word hyphenated over the break is joined like one hyphenated over
    a line, and the page then starts inside the word:

        >>> join_pages(["The dura-", "tion was long."], Counter({"duration": 1}))
        ('The duration was long.', [0, 8])
    """
    text, starts = "", []
    for page in pages:
        if page and text:
            hyphen = re.search(rf"({_W}+)-$", text)
            first = re.match(rf"{_W}+", page)
            if hyphen and first and page[0].islower():
                glue = _hyphen_glue(hyphen.group(1), first.group(), spaced=False, vocab=vocab)
                text = text[:-1] if glue == "" else text + glue[1:]
            elif page[0].islower() or (not text.endswith((".", "!", "?", ":")) and _continues(text, page)):
                text += " "
            else:
                text += "\n\n"
        starts.append(len(text))  # an empty page starts (and ends) where the next one begins
        text += page
    return text, starts


def _continues(text: str, page: str) -> bool:
    """Whether ``page`` can go on with the last paragraph of ``text``: neither is a heading, a
    caption or a table cell, and the page does not open with a new block."""
    last = text[text.rfind("\n") + 1 :]
    opening = page.split("\n", 1)[0]
    prose = len(last.split()) >= 4 and last[-1].isalnum() and not _is_closed(last, opening, 0)
    return prose and not _starts_block(opening, after_sentence=False) and not _heading_title(opening)
