"""Clean PDF-extracted text and find its sections (:mod:`crps_qa.ingest.pages` joins a document's pages).

``clean_text`` repairs what PDF extraction does to papers (ligatures, Symbol-font "£25mg/hr" for
"≤25mg/hr", "M ETHODS", "dura-\\ntion", "S- ketamine", lines wrapped with blank lines between) and
returns paragraphs separated by exactly one blank line, each on a single line::

    >>> clean_text("M ETHODS\\n\\nThe dura-\\ntion was\\n\\nlong.")
    'METHODS\\n\\nThe duration was long.'

It is pure, deterministic and idempotent: it returns a fixed point of one cleaning pass.
"""

from __future__ import annotations

import logging
import re
import statistics
import unicodedata
from collections import Counter

from crps_qa.ingest.roles import close_blocks, paragraph_spans
from crps_qa.types import Section

log = logging.getLogger(__name__)

_W = r"[^\W_]"  # one letter or digit, any script ("Aδ", "TNFα")

# ---- canonical headings -------------------------------------------------------------------------
_HEADINGS = {
    "abstract": "Abstract", "background": "Background", "introduction": "Introduction",
    "objective": "Objective", "objectives": "Objective", "method": "Methods", "methods": "Methods",
    "materials and methods": "Methods", "patients and methods": "Methods", "results": "Results",
    "discussion": "Discussion", "conclusion": "Conclusion", "conclusions": "Conclusion",
    "case": "Case Report", "case report": "Case Report", "case presentation": "Case Report",
    "case description": "Case Report", "references": "References", "limitations": "Limitations",
    "acknowledgments": "Acknowledgments", "acknowledgements": "Acknowledgments",
}  # fmt: skip
# Headings whose presence marks a research paper; only documents without them (web articles such
# as Chopra's) get free-form Title-Case headings, because in papers those lines are table cells
# ("Max Temp (F)") and sidebars ("Key Points") that would steal text from the real section.
_STRUCTURAL = {"Abstract", "Background", "Introduction", "Methods", "Results", "Discussion", "Case Report"}
_SPACED_WORDS = {k.upper() for k in _HEADINGS if " " not in k} | {"TABLE", "FIGURE", "APPENDIX", "KEYWORDS"}
_LABELS = sorted([k for k in _HEADINGS if k != "case"] + ["key words", "keywords"], key=len, reverse=True)
_LABEL = re.compile(rf"^({'|'.join(_LABELS)}) ?[.:] \S", re.I)  # "Methods. Case notes of 33 …"
_KEYWORDS = re.compile(r"^key ?words\b", re.I)  # "Key Words. Ketamine; Neuropathic Pain" ends where it ends
_CAPTION = re.compile(r"^(?:(Table|TABLE)|Figure|FIGURE|Fig\.) ?(\d+)[.:]?(?= [A-Z(]|$)")
_APPENDIX = re.compile(r"^appendix (\w+)$", re.I)
_LIST = re.compile(r"^(?:[-–•] |\d{1,3}[.)] (?=[A-Z]))")
_SMALL_WORDS = {"a", "an", "and", "as", "at", "by", "for", "from", "in", "of", "on", "or", "the", "to",
                "with"}  # fmt: skip

# ---- character-level repairs --------------------------------------------------------------------
_PROTECTED = re.compile(r"[\u00b2\u00b3\u00b9\u00bc-\u00be\u2070-\u209f]+")  # NFKC: "10³" → "103"
_INVISIBLE = re.compile(r"[\u00ad\u200b-\u200d\u2060\ufeff]")
_SOFT_HYPHEN_BREAK = re.compile(r"\u00ad[ \t]*\n\s*")
# "≥" in a Symbol font is byte 0xB3, which decodes to "³". A real superscript three is always
# glued to its base ("10³", "mm³"), so only a token-initial "³" before a number is rewritten.
_GE = re.compile(r"(?<![^\s(\[])\u00b3(?= ?\d)")
# "≤" in a Symbol font is byte 0xA3 = "£": "£25mg/hr", "£15 10 (30%)". A price such as "£25,000"
# would be rewritten too; medical papers state doses far more often than prices.
_LE = re.compile(r"£(?= ?\d)")
_SPACES = re.compile(r"[^\S\n]+")
_BULLET = re.compile(r"^ ?[•·▪◦‣∙●\uf0b7] ?(?:[-–] )?", re.M)  # "·       - Eligibility" → "- Eligibility"
_SPACED = re.compile(r"^ ?((?:[A-Z]{1,12} )+[A-Z]{1,12})(?= |$)")  # "TA B L E 1 …", "R E S U LT S"
_LETTERS = re.compile(r"^ ?[A-Z](?: [A-Z]){3,} ?$")  # a whole line "K E Y W O R D S"
# "S- ketamine", "low- dose", "step- by- step": a real hyphen followed by a spurious space. Not a
# suspended hyphen ("peri- and postoperative"), a list dash or a range ("4 - 10", space before).
_INLINE_HYPHEN = re.compile(rf"(?<={_W})- (?!(?:and|or|nor|to)\b)(?={_W})")
_DIGIT_DASH = re.compile(r"(?<=\d)– (?=\d)")  # "1– 3 months" → "1–3 months"
_TOKEN = re.compile(rf"{_W}+(?:-{_W}+)*")
_PREFIXES = {"anti", "dis", "inter", "non", "over", "post", "pre", "sub", "super", "trans", "under", "out", "mis"}


def _normalize_chars(text: str) -> str:
    """Character and single-line repairs; idempotent, keeps line structure."""
    text = re.sub(r"\r\n?|[\f\v\u2028\u2029]", "\n", text).replace("\u2217", "*")  # TeX's \ast
    text = _INVISIBLE.sub("", _SOFT_HYPHEN_BREAK.sub("", text))
    text = _GE.sub("≥", text)
    pieces, pos = [], 0
    for m in _PROTECTED.finditer(text):  # NFKC everywhere except superscripts and fractions
        pieces += [unicodedata.normalize("NFKC", text[pos : m.start()]), m.group()]
        pos = m.end()
    text = "".join([*pieces, unicodedata.normalize("NFKC", text[pos:])])
    text = _LE.sub("≤", text).replace("\u2010", "-")
    text = _BULLET.sub("- ", _SPACES.sub(" ", text))
    text = "\n".join(_unspace_heading(line) for line in text.split("\n"))
    return _DIGIT_DASH.sub("–", _INLINE_HYPHEN.sub("-", text))


def _unspace_heading(line: str) -> str:
    """'M ETHODS' → 'METHODS', 'TA B L E 1 Patients’ …' → 'TABLE 1 Patients’ …'; 'T0, T1' untouched."""
    if _LETTERS.match(line):
        return line.replace(" ", "")
    m = _SPACED.match(line)
    if not m:
        return line
    spans = [t.span() for t in re.finditer(r"[A-Z]+", m.group(1))]
    for n in range(len(spans), 1, -1):  # longest run of fragments that spells a heading word
        word = m.group(1)[: spans[n - 1][1]].replace(" ", "")
        if word in _SPACED_WORDS:
            return word + line[m.start(1) + spans[n - 1][1] :]
    return line


def build_vocabulary(text: str) -> Counter[str]:
    """Lower-cased words, hyphenated compounds and their adjacent pairs ("step-by", "by-step").

    Words split at a line end ("dura-" / "tion") are left out: their halves are not words.
    """
    vocab: Counter[str] = Counter()
    text = re.sub(rf"{_W}+-[ \t]*\n\s*{_W}+", " ", _normalize_chars(text))
    for token in _TOKEN.findall(text.lower()):
        parts = token.split("-")
        vocab.update(parts)
        if len(parts) > 1:
            vocab[token] += 1
            vocab.update(f"{a}-{b}" for a, b in zip(parts, parts[1:], strict=False))
    return vocab


def _hyphen_glue(left: str, right: str, *, spaced: bool, vocab: Counter[str]) -> str:
    """Glue for a word split as 'left-' / 'right' at a line break: '' joins, '-' keeps the hyphen.

    Keep:  "N-" "methyl" (single letter), "4-" "day" (number), "NMDA-" "receptor" (all caps),
           "Kaplan-" "Meier" (capital), "light-" "headed" when "light-headed" is in the document.
    Join:  "dura-" "tion", "Syn-" "drome", "inpa-" "tient" ("inpatient" is in the document).
    Unknown either way: keep when both halves are words of three letters or more ("long-" "lasting")
    and the first is not a prefix ("post-" "treatment"); else join, unless the PDF put a space after
    the hyphen ("therapy- " "resistant"),
    which in papers like Erasmus' marks a real hyphen. "pre-" "and post-" keeps a suspended "- ".
    """
    if right.lower() in {"and", "or", "nor", "to"}:
        return "- "
    joined, compound = (left + right).lower(), f"{left}-{right}".lower()
    if left[:1].isupper() and right[:1].isupper() and vocab[joined] > vocab[compound]:
        return ""  # "Mc-" "Nemar" where the document writes "McNemar"
    if len(left) == 1 or any(c.isdigit() for c in left) or left.isupper() or not right[0].islower():
        return "-"
    if vocab[joined] and vocab[compound]:
        return "-" if vocab[compound] > vocab[joined] else ""
    if vocab[joined] or vocab[compound]:
        return "" if vocab[joined] else "-"
    # Neither form occurs elsewhere. A compound's halves are words ("low-" "dose"); a hyphenated
    # syllable's ("dura-" "tion") are not, except a prefix's ("post-" "treatment", "in-" "tolerable").
    words = min(len(left), len(right)) >= 3 and vocab[left.lower()] and vocab[right.lower()]
    if words and left.lower() not in _PREFIXES:
        return "-"
    return "-" if spaced else ""


# ---- lines → paragraphs -------------------------------------------------------------------------
def _heading_title(par: str) -> str | None:
    key = par.strip().rstrip(".:").strip().lower()
    if m := _APPENDIX.match(key):
        return f"Appendix {m.group(1).upper()}"
    return _HEADINGS.get(key)


def _is_title_line(s: str, max_len: int) -> bool:
    """'What Is Ketamine?', 'Clinical Use: What Patients Should Know' (no sentence, no comma)."""
    words = re.findall(r"[^\W\d_][\w'’-]*", s)
    if not words or len(s) > max_len or "," in s or s.endswith((".", ";")):
        return False
    return words[0][0].isupper() and all(w[0].isupper() or w.lower() in _SMALL_WORDS for w in words)


def _starts_block(line: str, after_sentence: bool) -> bool:
    """Headings, captions, 'Objective:' labels and list items always start a new paragraph."""
    if _heading_title(line) or _CAPTION.match(line) or _LABEL.match(line) or _LIST.match(line):
        return True
    return after_sentence and _is_title_line(line, 60)


def _is_closed(par: str, nxt: str, blanks: int) -> bool:
    """No continuation for headings, title lines, number cells ("91.2"), captions or a keyword list
    before a blank."""
    if _heading_title(par) or (blanks and (_CAPTION.match(par) or _KEYWORDS.match(par))):
        return True
    if not re.search(r"[^\W\d_]", par):
        return True
    return _is_title_line(par, 130) and not nxt[0].islower()


def _join(par: str, last: str, line: str, *, blanks: int, spaced: bool, width: float,
          soft_max: int | None, vocab: Counter[str]) -> str | None:  # fmt: skip
    """``par`` continued by ``line`` (``blanks`` blank lines between), or None for a new paragraph.

    ``last`` is the last raw line of ``par``; ``width`` the column width; ``soft_max`` is set when
    the boundary lies in a double-spaced run (see ``_double_spaced_runs``).
    """
    # "… are presented in" / "Table 1. Different variables …": a full line that stops mid-sentence
    # goes on, even into a line that starts like a caption.
    mid_sentence = not blanks and re.search(r"(?<![A-Z])[a-z]+$", last) and len(last) >= 0.8 * width
    if _starts_block(line, after_sentence=False) and not (mid_sentence and _CAPTION.match(line)):
        return None
    hyphen = re.search(rf"({_W}+)-$", par)
    if hyphen and line[0].isalnum() and (not blanks or line[0].islower()):
        glue = _hyphen_glue(hyphen.group(1), re.match(rf"{_W}+", line).group(), spaced=spaced, vocab=vocab)
        return par[:-1] + line if glue == "" else par + glue[1:] + line  # glue[1:] is "" or " "
    ends_sentence = last.endswith((".", "!", "?", ":"))
    short = len(last) < 0.6 * width
    if _starts_block(line, after_sentence=True) and (blanks or ends_sentence or short):
        return None  # a Title-Case line after a finished one: "Benefits", "What Is Ketamine?"
    if _is_closed(par, line, blanks) or (par[0].isdigit() and line[0].isdigit()):
        return None  # the digit rule keeps table rows apart: "Male 7 (15%)" / "16–20 12 (36%) …"
    if not blanks:  # an ordinary wrapped line, unless the previous one visibly ended early
        if re.search(r"\d–$", par) and line[0].isdigit():
            return par + line  # "from 15–20 to 20–" / "25mg/hr"
        if (ends_sentence and len(last) < 0.8 * width) or (short and not line[0].islower()):
            return None
        return f"{par} {line}"
    if line[0].islower() and not ends_sentence:  # "… used here to" / "" / "illustrate the …"
        return f"{par} {line}"
    # Erasmus' abstract has a blank line after every wrapped line: "… patients with Complex" / ""
    # / "Regional Pain Syndrome (CRPS)." A full line continues unless it ends a sentence early.
    fill = len(last) / soft_max if soft_max else 0.0
    mid_sentence = last[-1].isalpha() and line[0].isalnum()
    if fill >= 0.75 and (mid_sentence or fill >= 0.9 and last[-1] == "." and line[0].isupper()):
        return f"{par} {line}"
    return None


def _typical_width(lines: list[str]) -> float:
    """Column width: 75th percentile of line lengths (tiny table cells ignored), 40–120."""
    lengths = sorted(len(line) for line in lines if len(line) >= 25)
    return min(max(lengths[int(0.75 * (len(lengths) - 1))], 40), 120) if lengths else 80.0


def _double_spaced_runs(lines: list[str]) -> dict[int, int]:
    """Index of each line inside a 'blank line after every line' run → longest line of the run.

    A run is ≥ 3 single lines of wrapped prose (median ≥ 45 chars, none over 130) each separated by
    exactly one blank line, as in Erasmus' abstract; short table cells and unwrapped paragraphs
    (Chopra: one 600-char line per paragraph) never form one.
    """
    def isolated(i: int) -> bool:
        return bool(lines[i]) and all(not lines[j] for j in (i - 1, i + 1) if 0 <= j < len(lines))

    runs: list[list[int]] = []
    for i in range(len(lines)):
        if isolated(i) and len(lines[i]) <= 130:
            if runs and runs[-1][-1] == i - 2:
                runs[-1].append(i)
            else:
                runs.append([i])
    soft: dict[int, int] = {}
    for run in runs:
        if len(run) >= 3 and statistics.median(len(lines[i]) for i in run) >= 45:
            soft.update(dict.fromkeys(run[1:], max(len(lines[i]) for i in run)))
    return soft


def _one_pass(text: str, vocab: Counter[str]) -> str:
    raw_lines = _normalize_chars(text).split("\n")
    lines = [line.strip() for line in raw_lines]
    width, soft = _typical_width(lines), _double_spaced_runs(lines)
    paragraphs: list[str] = []
    par, prev, blanks = "", -1, 0
    for i, line in enumerate(lines):
        if not line:
            blanks += 1
            continue
        joined = None
        if par:
            joined = _join(par, lines[prev], line, blanks=blanks, spaced=raw_lines[prev].endswith("- "),
                           width=width, soft_max=soft.get(i), vocab=vocab)  # fmt: skip
            if joined is None:
                paragraphs.append(par)
        par, prev, blanks = joined or line, i, 0
    return "\n\n".join([*paragraphs, par] if par else paragraphs)


def clean_text(text: str, vocabulary: Counter[str] | None = None) -> str:
    """Paragraphs separated by ``"\\n\\n"``, each on one line; see the module docstring.

    ``vocabulary`` (from :func:`build_vocabulary`) decides "dura-/tion" → "duration" versus
    "light-/headed" → "light-headed"; by default it is built from ``text`` itself.
    """
    vocab = build_vocabulary(text) if vocabulary is None else vocabulary
    passes, cleaned = 1, _one_pass(text, vocab)
    while cleaned != text:  # later passes only ever join paragraphs, so this ends (in practice: 2)
        passes, text, cleaned = passes + 1, cleaned, _one_pass(cleaned, vocab)
    log.debug("clean_text reached a fixpoint after %d passes", passes)
    return text


# ---- sections -----------------------------------------------------------------------------------
def _section_title(par: str, nxt: str | None, *, free_form: bool) -> tuple[str | None, str]:
    """(title, kind): kind is "heading", "label" ("Methods. Case notes of …") or "caption"."""
    if title := _heading_title(par):
        return title, "heading"
    if m := _CAPTION.match(par):
        return f"{'Table' if m.group(1) else 'Figure'} {m.group(2)}", "caption"
    if (m := _LABEL.match(par)) and (title := _heading_title(m.group(1))):
        return title, "label"
    free_heading = free_form and nxt and _is_title_line(par, 60) and len(par.split()) <= 8
    if free_heading and not re.search(r"\d", par) and (len(nxt) >= 40 or _LIST.match(nxt)):
        return par.rstrip(":").strip(), "heading"
    return None, ""


def detect_sections(text: str) -> tuple[Section, ...]:
    """Section changes in cleaned text: headings ('METHODS', 'What Is Ketamine?'), abstract labels
    ('Objective: …', governing their own paragraph), table and figure blocks ('Table 3 …') and the
    return to the interrupted heading after a block, see :func:`crps_qa.ingest.roles.close_blocks`.
    A section titled "" (text before any heading, after a block) reads as no section."""
    paragraphs = paragraph_spans(text)
    nexts = [p for _, p in paragraphs[1:]] + [None]
    titles = [_section_title(par, nxt, free_form=False) for (_, par), nxt in zip(paragraphs, nexts, strict=True)]
    if not any(title in _STRUCTURAL for title, _ in titles):
        titles = [_section_title(par, nxt, free_form=True) for (_, par), nxt in zip(paragraphs, nexts, strict=True)]
    return tuple(Section(start, title) for start, title in close_blocks(paragraphs, titles))

