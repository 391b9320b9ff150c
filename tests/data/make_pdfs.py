"""Typeset the five corpus papers as two-column journal PDFs, with page ground truth.

    python tests/data/make_pdfs.py            # needs pdflatex (Debian: texlive-latex-recommended,
                                              # texlive-fonts-recommended, lmodern)

Writes ``tests/data/pdfs/<stem>.pdf`` (same stem as ``corpus/<stem>.txt``, so doc_ids match) and
``tests/data/pdfs/truth.json``: for every paper its running header and footer and every sentence
of the source text with the page it starts on and the page it ends on. The pages come from TeX
itself: each sentence is bracketed by ``\\write`` marks, which TeX expands when the page is shipped
out (the mechanism behind ``\\label``/``\\pageref``), so they are exact.

The source text is the corpus text as the indexer cleans it (``normalize_document``), one LaTeX
paragraph per paragraph; headings become ``\\section*``, "Table n"/"Figure n" captions become
captions (a framed box stands in for a figure; table rows are set as a ruled tabular), and in
Erasmus' paper the citation numbers glued to words ("lesion.1", "years3,4") are set as
superscripts. Their ground-truth form is bracketed ("lesion.[1]"): what extraction must produce
so that a citation number never glues onto a word. pdflatex hyphenates, justifies and sets the
ligatures ﬁ, ﬂ, ﬀ; the output is deterministic (fixed dates and IDs), so a re-run only changes the
PDFs if the corpus or this script changed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO / "src"))

from crps_qa.ingest.chunk import split_sentences  # noqa: E402
from crps_qa.ingest.pages import normalize_document  # noqa: E402
from crps_qa.ingest.read import read_document  # noqa: E402

OUT = HERE / "pdfs"
JOURNAL = "Pain Med Rep 2024;12:1--9"
JOURNAL_TEXT = "Pain Med Rep 2024;12:1–9"
FOOTER_TEXT = "CRPS-QA test corpus, typeset from the plain-text paper"
SHORT_TITLES = {  # running heads, as a journal would abbreviate the title
    "amputation-ketamine-case-report": "Ketamine and rehabilitation after amputation in CRPS",
    "chopra-iv-ketamine-for-crps": "Intravenous ketamine for CRPS",
    "erasmus-low-dose-s-ketamine-cohort": "Low-dose S-ketamine in CRPS",
    "ketamine-skin-temperature-case-report": "Skin temperature during ketamine infusion",
    "mackay-low-dose-ketamine-retrospective": "Inpatient ketamine infusions for CRPS",
}
SUPERSCRIPT_CITATIONS = {"erasmus-low-dose-s-ketamine-cohort"}
# "lesion.1 The", "predominance.1,2 In", "years3,4 and": digits glued to a lower-case word
_GLUED_CITATION = re.compile(r"(?:(?<=[a-z])|(?<=[A-Za-z]\.)|(?<=[a-z],))(\d{1,2}(?:[,–-]\d{1,2})*)(?=\s|$)")
_CAPTION = re.compile(r"^(Table|TABLE|Figure|FIGURE|Fig\.) ?\d+")
_LATEX_CHARS = {
    "\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&", "#": r"\#",
    "^": r"\textasciicircum{}", "_": r"\_", "%": r"\%", "~": r"\textasciitilde{}",
    "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}",
    "≥": r"$\geq$", "≤": r"$\leq$", "±": r"\textpm{}", "°": r"\textdegree{}", "·": r"\textperiodcentered{}",
    "†": r"\dag{}", "δ": r"$\delta$", "α": r"$\alpha$", "¥": r"\textyen{}", "μ": r"\textmu{}",
    "×": r"\texttimes{}", "–": "--", "—": "---", "“": "``", "”": "''", "’": "'", "‘": "`", "'": r"\textquotesingle{}",
    "-": "-{}",  # no "--"/"---" ligature from two hyphens in the source
}  # fmt: skip

PREAMBLE = r"""\documentclass[twocolumn,10pt,a4paper]{article}
\pdfinfoomitdate=1 \pdftrailerid{} \pdfsuppressptexinfo=-1
\usepackage{cmap}\usepackage[T1]{fontenc}\usepackage[utf8]{inputenc}\usepackage{lmodern}
\usepackage{textcomp}\usepackage[margin=2cm,top=2.4cm,bottom=2.4cm,columnsep=0.8cm]{geometry}
\usepackage{fancyhdr}
\pagestyle{fancy}\fancyhf{}
\fancyhead[L]{\small\itshape @SHORT@}\fancyhead[R]{\small @JOURNAL@}
\fancyfoot[L]{\footnotesize @FOOTER@}\fancyfoot[R]{\small\thepage}
\fancypagestyle{plain}{\fancyhf{}\fancyhead[L]{\small\itshape @SHORT@}\fancyhead[R]{\small @JOURNAL@}%
\fancyfoot[L]{\footnotesize @FOOTER@}\fancyfoot[R]{\small\thepage}}
\newwrite\pagelog \immediate\openout\pagelog=\jobname.pages
\newcommand\sbeg[1]{\leavevmode\write\pagelog{b #1 \thepage}}
\newcommand\send[1]{\write\pagelog{e #1 \thepage}}
\title{\Large\bfseries @TITLE@}\author{@AUTHORS@}\date{}
\begin{document}\maketitle
"""


def latex_escape(text: str) -> str:
    return "".join(_LATEX_CHARS.get(c, c) for c in text)


def source_text(stem: str) -> str:
    """The paper as the indexer cleans it, with superscript-style citations bracketed: "lesion.[1]"."""
    text = normalize_document(read_document(REPO / "corpus" / f"{stem}.txt")).text
    if stem in SUPERSCRIPT_CITATIONS:
        text = _GLUED_CITATION.sub(r"[\1]", text)
    return text


def _set_sentence(text: str, start: int, end: int, n: int, superscripts: bool) -> str:
    body = latex_escape(text[start:end])
    if superscripts:  # "lesion.[1]" is set as "lesion.\textsuperscript{1}"
        body = re.sub(r"\[(\d[\d,\-{}]*(?:--[\d]+)?)\]",
                      lambda m: r"\textsuperscript{" + m.group(1) + "}", body)  # fmt: skip
    return rf"\sbeg{{{n}}}{body}\send{{{n}}}"


def to_latex(stem: str, text: str, title: str, authors: str) -> tuple[str, list[str]]:
    """The LaTeX source and the list of sentences (sentence n is marked ``\\sbeg{n}``…``\\send{n}``)."""
    sentences: list[str] = []
    body: list[str] = []
    paragraphs = [(m.start(), m.end()) for m in re.finditer(r"[^\n]+", text)]
    in_table = False
    for i, (start, end) in enumerate(paragraphs):
        par = text[start:end]
        words = len(par.split())
        marked = []
        for s, e in split_sentences(text, start, end):
            marked.append(_set_sentence(text, s, e, len(sentences), stem in SUPERSCRIPT_CITATIONS))
            sentences.append(" ".join(text[s:e].split()))
        setting = " ".join(marked)
        is_row = not par.rstrip().endswith((".", ":", "?")) and len(par) < 90
        if in_table and not is_row:
            body.append(r"\hline\end{tabular}\par\medskip")
            in_table = False
        if m := _CAPTION.match(par):
            kind = "Figure" if m.group(1)[0] in "Ff" else "Table"
            if kind == "Figure":
                body.append(r"\par\medskip\noindent\fbox{\parbox[c][3cm][c]{0.95\columnwidth}{\hfill}}\par")
            body.append(r"\par\smallskip\noindent{\small " + setting + r"}\par\smallskip")
            nxt = text[paragraphs[i + 1][0] : paragraphs[i + 1][1]] if i + 1 < len(paragraphs) else ""
            if kind == "Table" and len(nxt) < 90 and not nxt.endswith("."):
                body.append(r"\noindent\footnotesize\begin{tabular}{@{}p{0.97\columnwidth}@{}}\hline")
                in_table = True
        elif in_table:
            body.append(setting + r"\\")
        elif is_row and sum(c.isdigit() for c in par) > 0.25 * len(par):  # a row of numbers
            body.append(r"\par\noindent{\footnotesize " + setting + r"}\par")
        elif words <= 8 and not par.endswith((".", ",")) and i + 1 < len(paragraphs):
            body.append(r"\section*{\normalsize " + setting + "}")
        else:
            body.append(setting + "\n")
    if in_table:
        body.append(r"\hline\end{tabular}\par")
    preamble = (PREAMBLE.replace("@SHORT@", latex_escape(SHORT_TITLES[stem]))
                .replace("@JOURNAL@", JOURNAL).replace("@FOOTER@", latex_escape(FOOTER_TEXT))
                .replace("@TITLE@", latex_escape(title)).replace("@AUTHORS@", latex_escape(authors)))  # fmt: skip
    return preamble + "\n".join(body) + "\n\\end{document}\n", sentences


def typeset(stem: str, latex: str, sentences: list[str], work: Path) -> dict:
    (work / f"{stem}.tex").write_text(latex, encoding="utf-8")
    env = {**os.environ, "SOURCE_DATE_EPOCH": "1700000000", "FORCE_SOURCE_DATE": "1"}
    for _ in range(2):
        run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", f"{stem}.tex"],
                             cwd=work, env=env, capture_output=True, text=True)  # fmt: skip
        if run.returncode:
            raise SystemExit(f"pdflatex failed on {stem}:\n{run.stdout[-3000:]}")
    begins: dict[int, int] = {}
    ends: dict[int, int] = {}
    for line in (work / f"{stem}.pages").read_text().splitlines():
        kind, n, page = line.split()
        (begins if kind == "b" else ends)[int(n)] = int(page)
    pages = max(ends.values())
    (OUT / f"{stem}.pdf").write_bytes((work / f"{stem}.pdf").read_bytes())
    return {
        "pages": pages,
        "header": [SHORT_TITLES[stem], JOURNAL_TEXT],
        "footer": [FOOTER_TEXT],
        "sentences": [{"text": s, "page": begins[n], "page_end": ends[n]} for n, s in enumerate(sentences)],
    }


def main() -> None:
    catalog = {d["doc_id"]: d for d in json.loads((REPO / "corpus" / "catalog.json").read_text())["documents"]}
    OUT.mkdir(parents=True, exist_ok=True)
    truth = {}
    with tempfile.TemporaryDirectory() as tmp:
        for stem in sorted(SHORT_TITLES):
            entry = catalog[stem]
            latex, sentences = to_latex(stem, source_text(stem), entry["title"], entry["authors"] or "")
            truth[stem] = typeset(stem, latex, sentences, Path(tmp))
            print(f"{stem}.pdf: {truth[stem]['pages']} pages, {len(sentences)} sentences")
    (OUT / "truth.json").write_text(json.dumps(truth, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
