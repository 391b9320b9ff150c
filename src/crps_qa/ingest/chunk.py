"""Cleaned documents → sentence-aware passages with exact character spans.

A passage is a run of whole sentences inside one section, at most ``max_words`` words long
(a single longer sentence becomes a passage of its own), and each passage repeats the last
``overlap_sentences`` sentences of the previous one so that a fact that straddles a boundary
is still seen whole. Every passage satisfies ``doc.text[p.char_start:p.char_end] == p.text``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator

from crps_qa.ingest.roles import paragraph_roles, paragraph_spans
from crps_qa.types import CleanDocument, Passage

# Words that end in a period without ending a sentence ("et al. 2009", "e.g. nausea").
_ABBREVIATIONS = frozenset(
    [
        "al", "e.g", "i.e", "vs", "dr", "mr", "mrs", "ms", "prof", "fig", "figs", "no", "nos", "approx", "ca",
        "cf", "st", "resp", "eq", "ref", "refs", "vol", "pp", "inc", "ltd", "co", "jr", "sr", "min", "max", "mg", "ml",
    ]  # fmt: skip
)
# A sentence ends at . ! ? (optionally followed by a closing quote, bracket or a citation
# number like "disease.12", or "disease.[12]" from a PDF's superscript) when whitespace and an
# upper-case letter, digit or opening bracket follow. Paragraph breaks ("\n\n") always end a sentence.
_BOUNDARY = re.compile(r"""[.!?]["'”’)\]]*(?:\d+(?:[,–-]\d+)*|\[\d+(?:[,–-]\d+)*\])?(?=\s+["'“‘(\[]?[A-Z0-9])""")
_PARAGRAPH = re.compile(r"\n\s*\n")
_WORD = re.compile(r"\S+")


def _is_abbreviation(text: str, dot: int) -> bool:
    """True when the period at ``dot`` closes an abbreviation or an initial ("R. J. Smith")."""
    start = dot
    while start > 0 and not text[start - 1].isspace() and text[start - 1] not in "([":
        start -= 1
    word = text[start:dot].lower()
    return word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha())


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Spans ``(char_start, char_end)`` of the sentences of ``text[start:end]``, whitespace trimmed.

    >>> split_sentences("Pain fell. It rose again.\\n\\nMethods")
    [(0, 10), (11, 25), (27, 34)]
    """
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    for para_start, para_end in _paragraphs(text, start, end):
        cursor = para_start
        for match in _BOUNDARY.finditer(text, para_start, para_end):
            if text[match.start()] == "." and _is_abbreviation(text, match.start()):
                continue
            spans.append((cursor, match.end()))
            cursor = match.end()
        spans.append((cursor, para_end))
    return [span for span in (_trim(text, s, e) for s, e in spans) if span[0] < span[1]]


def _paragraphs(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    cursor = start
    for match in _PARAGRAPH.finditer(text, start, end):
        yield cursor, match.start()
        cursor = match.end()
    yield cursor, end


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _regions(doc: CleanDocument) -> list[tuple[int, int, str]]:
    """(start, end, role) of runs of text under one section with one role each (the text before
    the first heading too): a passage never mixes a table with prose, nor a copyright line with
    the disclaimer above it (roles: :mod:`crps_qa.ingest.roles`)."""
    paragraphs = paragraph_spans(doc.text)
    roles = paragraph_roles(paragraphs, [doc.section_at(start) for start, _ in paragraphs])
    role_at = dict(zip((start for start, _ in paragraphs), roles, strict=True))
    cuts = {0, *(s.start for s in doc.sections if 0 < s.start < len(doc.text))}
    cuts |= {start for (start, _), role, prev in zip(paragraphs[1:], roles[1:], roles, strict=False) if role != prev}
    ordered = sorted(cuts)
    out = []
    for start, end in zip(ordered, [*ordered[1:], len(doc.text)], strict=True):
        first = next((r for p, r in role_at.items() if start <= p < end), "body")
        out.append((start, end, first))
    return out


def chunk_id(doc_id: str, text: str, ordinal: int = 0) -> str:
    """Stable id: the same passage text in the same document always gets the same id."""
    digest = hashlib.sha1(f"{doc_id}\0{text}".encode()).hexdigest()[:12]
    return f"{doc_id}#{digest}" if ordinal == 0 else f"{doc_id}#{digest}-{ordinal}"


def chunk_document(doc: CleanDocument, *, max_words: int = 120, overlap_sentences: int = 1) -> list[Passage]:
    """Split ``doc`` into passages of whole sentences, never crossing a section boundary.

    e.g. sentences of 50, 40, 30 and 20 words with max_words=100, overlap 1:
    passage 1 = s1+s2 (90 words; adding s3 would make 120), passage 2 = s2+s3+s4 (90 words).
    """
    if overlap_sentences < 0 or max_words < 1:
        raise ValueError("max_words must be >= 1 and overlap_sentences >= 0")
    passages: list[Passage] = []
    seen: dict[str, int] = {}
    for region_start, region_end, role in _regions(doc):
        sentences = split_sentences(doc.text, region_start, region_end)
        for first, last in _windows(doc.text, sentences, max_words, overlap_sentences):
            char_start, char_end = sentences[first][0], sentences[last][1]
            text = doc.text[char_start:char_end]
            if _is_label(doc, text):
                continue
            page, page_end = doc.page_span(char_start, char_end)
            ordinal = seen.get(text, 0)
            seen[text] = ordinal + 1
            passages.append(
                Passage(
                    chunk_id=chunk_id(doc.doc_id, text, ordinal),
                    doc_id=doc.doc_id,
                    text=text,
                    char_start=char_start,
                    char_end=char_end,
                    section=doc.section_at(char_start),
                    page=page,
                    page_end=page_end,
                    role=role,
                )
            )
    return passages


def _is_label(doc: CleanDocument, text: str) -> bool:
    """True for a passage that is only the document's title line or its section's heading.

    Such a passage carries no content of its own (the title and section are already part of
    what the dense model sees for every passage) and would outrank real passages on title words.
    """
    if "\n" in text or text.rstrip().endswith((".", "!", "?")):
        return False
    key = _squash(text)
    title = doc.text.split("\n", 1)[0]
    return key in {_squash(title), *(_squash(s.title) for s in doc.sections)}


def _squash(text: str) -> str:
    return re.sub(r"[^0-9a-z]", "", text.lower())


def _windows(
    text: str, sentences: list[tuple[int, int]], max_words: int, overlap: int
) -> Iterator[tuple[int, int]]:
    """Yield (first, last) sentence indices of each passage."""
    counts = [len(_WORD.findall(text, s, e)) for s, e in sentences]
    first = 0
    while first < len(sentences):
        last, words = first, counts[first]
        while last + 1 < len(sentences) and words + counts[last + 1] <= max_words:
            last += 1
            words += counts[last]
        yield first, last
        if last + 1 >= len(sentences):
            return
        # Step back `overlap` sentences, but always move forward by at least one sentence.
        first = max(first + 1, last + 1 - overlap)


# Sentence-final punctuation, optionally followed by closing quotes/brackets and a citation
# ("... of CRPS.12", "... (2).", "... [3–5]").
_SENTENCE_END = re.compile(r"[.!?:;][\"'”’)\]]*(?:\s?[\[(]?[\d,–\-]+[\])]?)?$")
_LETTER_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")


def is_fragment(text: str) -> float:
    """1 for a heading, title or table row rather than a sentence: it does not end like a sentence,
    or most of its words are capitalised ("Intravenous Ketamine for CRPS: A Promising Option"),
    else 0. A list item that ends like a sentence ("- Pain relief lasted 3 months.") is a sentence."""
    flat = " ".join(text.split())
    words = _LETTER_WORD.findall(flat)
    if not words or not _SENTENCE_END.search(flat):
        return 1.0
    capitalised = sum(w[0].isupper() for w in words) / len(words)
    return float(len(words) >= 3 and capitalised >= 0.6)
