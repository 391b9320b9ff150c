"""The sentence text the word-by-word matcher reads, shared by the indexer (which stores its token
vectors) and the matcher (which encodes it when the index does not store it).

    match_text(text, sections, start, end, expander)
    # "Table 2 Side effects: Nausea n = 3 (CRPS (complex regional pain syndrome))"

A sentence is expanded with the corpus's abbreviations ("CRPS" gains "complex regional pain
syndrome"), so a question in either form finds a sentence in the other, and a table row is read
after its table's caption ("Side effects n = 30 (63%)" is about S-ketamine treatment).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from crps_qa.ingest.abbrev import QueryExpander
from crps_qa.ingest.chunk import is_fragment
from crps_qa.types import Section

_TABLE = re.compile(r"^table\b", re.IGNORECASE)  # a section that is a table: its rows are read with the caption


def with_caption(text: str, sections: Sequence[Section], start: int, end: int) -> str:
    """The sentence ``text[start:end]`` (whitespace squashed), after its table's caption when it is
    a row of a table ("Table 2 ...")."""
    sentence = " ".join(text[start:end].split())
    section = next((s for s in reversed(sections) if s.start <= start), None)
    if section is None or section.start == start or not _TABLE.match(section.title) or not is_fragment(sentence):
        return sentence
    caption_end = text.find("\n", section.start)
    caption = " ".join(text[section.start : caption_end if caption_end > 0 else end].split())
    return f"{caption}: {sentence}"


def match_text(text: str, sections: Sequence[Section], start: int, end: int, expander: QueryExpander) -> str:
    """The sentence as the word matcher reads it: after its table's caption, then expanded."""
    return expander.expand(with_caption(text, sections, start, end))
