"""What each paragraph of a cleaned paper is, and where tables, figures and label paragraphs end.

Roles (``Passage.role``):

* ``body``           the paper's own prose (and list items, key points, disclaimers);
* ``table``          a table's caption, rows and notes ("Table 2 ...", "Mean 40.5 28.1 ...");
* ``figure_caption`` a figure legend ("Figure 1 Cumulative treatment outcome ...");
* ``references``     reference-list entries ("2. Sigtermans MJ, van Hilten JJ, ... Pain. 2009");
* ``front_matter``   title lines, by-lines, affiliations, key words, correspondence, received /
  accepted dates, acknowledgements, funding and conflict statements, copyright lines, running
  headers and page chrome.

``references`` and ``front_matter`` passages stay searchable (a reader may look for a cited author)
but are never quoted as an answer (:data:`QUOTABLE`).

Sections: a table or figure caption starts a block that is *not* the section of the text after
it. :func:`close_blocks` turns the headings found in a paper into the section list in force at
every offset: a figure block is its caption paragraph; a table block goes on while paragraphs read
like rows or notes (short, numeric, "Note:", "* ..."), and the first paragraph of prose after it
returns to the heading it interrupted (Erasmus' Discussion is "Discussion", not "Table 3"). A
structured-abstract label paragraph ("Conclusion. This review suggests ...") governs only itself.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

ROLES = ("body", "table", "figure_caption", "references", "front_matter")
QUOTABLE = frozenset({"body", "table", "figure_caption"})  # roles an answer may quote
REFERENCES = "References"

# "1. Schwartzman RJ, Alexander GM, ...", "[3] Kirkpatrick AF, ...", "Bodde MI, Dijkstra PU, ..."
_REF_START = re.compile(r"^(?:\[?\d{1,3}[.)\]]\s+)?[A-Z][\w'’-]+(?: [a-z]{1,3})?(?: [A-Z][\w'’-]+)* [A-Z]{1,3}[,.]")
_REF_SIGNS = re.compile(r"\b(?:19|20)\d\d\b.*(?:;|\bdoi\b|\bPMID\b|:\s?\d+)|\bdoi:|\bPMID:", re.I)
_FRONT = re.compile(
    r"^(?:©|\(c\)\s|copyright\b|key ?words\b|correspondence\b|corresponding author\b|"
    r"address (?:for )?correspondence\b|e-?mail:|(?:received|accepted|published online)\b[^.]{0,40}\b(?:19|20)\d\d|"
    r"acknowledge?ments?\b|funding\b|financial (?:support|disclosure)|grant support\b|"
    r"sources? of (?:funding|support)\b|conflicts? of interest\b|competing interests?\b|disclosures?\b|"
    r"declaration of interest|author contributions?\b)",
    re.I,
)
_BYLINE = re.compile(r"^By [A-Z][\w.'’-]+(?: [A-Z][\w.'’-]+){0,4}(?:, [A-Z][\w.]+)*$")  # "By Pradeep Chopra, MD"
_FRONT_ANYWHERE = re.compile(
    r"all rights reserved|the authors? (?:declare|report|ha(?:ve|s)) no (?:conflicts?|competing)|"
    r"(?:this|the) (?:work|study|research) was (?:supported|funded) by",
    re.I,
)
_AFFILIATION = re.compile(
    r"^\d?\s*(?:department|dept\.|division|school|faculty|center|centre|institute)\b.*"
    r"\b(?:university|hospital|college|institute|medical cent(?:er|re))\b",
    re.I,
)
_TABLE_NOTE = re.compile(r"^(?:[*†‡§¶]|notes?[.:]|abbreviations?[.:]|sources?[.:]|[<>≤≥(]|\d)", re.I)
_WORD = re.compile(r"[^\W\d_][\w'’-]*")
_SENTENCE_END = re.compile(r"[.!?][\"'”’)\]]*(?:\d+(?:[,–-]\d+)*)?$")


def paragraph_spans(text: str) -> list[tuple[int, str]]:
    """(start, text) of each paragraph of cleaned text (runs of lines between blank lines), stripped."""
    found = [(m.start(), m.group()) for m in re.finditer(r"[^\n]+(?:\n(?![ \t]*\n)[^\n]*)*", text)]
    return [(start + len(p) - len(p.lstrip()), p.strip()) for start, p in found if p.strip()]


def is_reference(par: str) -> bool:
    """True for a reference-list entry: author initials up front and a year with a journal,
    volume, DOI or PMID after."""
    return bool(_REF_START.match(par)) and bool(_REF_SIGNS.search(par))


def is_prose(par: str) -> bool:
    """True for a paragraph of running text (not a table row): enough words, few numbers, and it
    ends like a sentence or continues one from before the table ("possible that ketamine ...")."""
    words = _WORD.findall(par)
    tokens = par.split()
    numeric = sum(any(c.isdigit() for c in t) for t in tokens) / max(len(tokens), 1)
    return len(words) >= 6 and numeric < 0.25 and (par[0].islower() or bool(_SENTENCE_END.search(par)))


def is_table_part(par: str) -> bool:
    """True for a paragraph that continues a table: a row, a header cell, a note or a footnote."""
    return bool(_TABLE_NOTE.match(par)) or not is_prose(par)


def close_blocks(
    paragraphs: Sequence[tuple[int, str]], titles: Sequence[tuple[str | None, str]]
) -> list[tuple[int, str]]:
    """(start, title) of every section change. ``titles[i]`` is paragraph i's (title, kind) with
    kind "heading", "label" (a structured-abstract paragraph) or "caption" (table or figure).

    e.g. DISCUSSION / prose / Table 3 caption / "Responder 19 (48) ..." / "T2. For these patients ..."
    → [(0, "Discussion"), (c, "Table 3"), (p, "Discussion")]: the prose after the table is back in
    the Discussion."""
    out: list[tuple[int, str]] = []
    enclosing = ""  # the heading in force outside blocks ("" before the first one)
    block = ""  # "table", "figure", "label", "references" or "" (in the enclosing section)
    for (start, par), (title, kind) in zip(paragraphs, titles, strict=True):
        if title is not None:
            out.append((start, title))
            if kind == "heading":
                enclosing, block = title, ""
            else:
                block = "table" if title.startswith("Table") else "figure" if kind == "caption" else "label"
            continue
        if is_reference(par):
            if block != "references":
                out.append((start, REFERENCES))
                block = "references"
            continue
        if block == "table" and is_table_part(par):
            continue
        if block:
            out.append((start, enclosing))
            block = ""
    return out


def paragraph_roles(paragraphs: Sequence[tuple[int, str]], section_of: Sequence[str | None]) -> list[str]:
    """The role of each paragraph, given the section title in force at it (see module doc)."""
    counts = Counter(p for _, p in paragraphs if len(p.split()) <= 12)
    first_section = next((i for i, s in enumerate(section_of) if s), len(paragraphs))
    last_prose = max((i for i, (_, p) in enumerate(paragraphs) if is_prose(p)), default=-1)
    roles = []
    for i, ((_, par), section) in enumerate(zip(paragraphs, section_of, strict=True)):
        section = section or ""
        if section == REFERENCES or is_reference(par):
            role = "references"
        elif section.startswith("Table"):
            role = "table"
        elif section.startswith("Figure"):
            role = "figure_caption"
        elif (
            section == "Acknowledgments" or _FRONT.match(par) or _BYLINE.match(par) or _FRONT_ANYWHERE.search(par)
            or (_AFFILIATION.match(par) and len(par.split()) <= 40)
            or (counts[par] > 1 and len(_WORD.findall(par)) >= 3 and not _SENTENCE_END.search(par))  # running head
            or ((i < first_section or i > last_prose) and not is_prose(par))  # title lines, page chrome
        ):
            role = "front_matter"
        else:
            role = "body"
        roles.append(role)
    return roles
