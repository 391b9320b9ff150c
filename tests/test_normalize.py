"""normalize: PDF-extracted text → clean paragraphs, sections and page starts.

Snippets are copied from the corpus files (PDF extractions) with their defects intact.
"""
# ruff: noqa: E501 — corpus snippets stay whole lines so they can be found in the corpus files

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from crps_qa.ingest.normalize import build_vocabulary, clean_text, detect_sections
from crps_qa.ingest.pages import normalize_document
from crps_qa.types import RawDocument

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
CORPUS_FILES = sorted(CORPUS.glob("*.txt"))


def corpus_text(stem: str) -> str:
    return (CORPUS / f"{stem}.txt").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def cleaned() -> dict[str, str]:
    return {path.stem: clean_text(path.read_text(encoding="utf-8")) for path in CORPUS_FILES}


# ---- characters -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a signiﬁcant diﬀerence", "a significant difference"),  # ligatures (NFKC)
        ("Maximum dose was 14\xa0mg/h", "Maximum dose was 14 mg/h"),  # NBSP
        ("aged 18\u2009 years", "aged 18 years"),  # odd spaces collapse
        ("Age (years) 39 (SD\xa0±\xa014)", "Age (years) 39 (SD ± 14)"),  # ± kept
        ("≥3 months; 4–10 days — “effective dose.”", "≥3 months; 4–10 days — “effective dose.”"),
        ("pa\u00adtients with\u200b CRPS", "patients with CRPS"),  # soft hyphen, zero-width space
        ("a volume of 10³ cells", "a volume of 10³ cells"),  # NFKC would turn this into 103
    ],
)
def test_unicode_is_normalized_but_meaningful_symbols_are_kept(raw: str, expected: str) -> None:
    assert clean_text(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("received ketamine at a rate £25mg/hr. Comparing", "received ketamine at a rate ≤25mg/hr. Comparing"),
        ("£15 10 (30%) 2 (17%) 12 (26%)", "≤15 10 (30%) 2 (17%) 12 (26%)"),
        ("the condition was present for £3 weeks", "the condition was present for ≤3 weeks"),
        ("a rate of £ 25mg/hr", "a rate of ≤ 25mg/hr"),
        ("paid in £ sterling", "paid in £ sterling"),  # not before a digit: left alone
        ("pain free for ³3 months", "pain free for ≥3 months"),  # token-initial ³ is Symbol's ≥
        ("a dose of 10³ 5 times", "a dose of 10³ 5 times"),  # glued to its base: a real superscript
    ],
)
def test_symbol_font_misdecodings_become_inequalities(raw: str, expected: str) -> None:
    assert clean_text(raw) == expected


def test_bullet_junk_becomes_a_dash_list() -> None:
    raw = (
        "Additional benefits include:\n\n"
        "· \xa0 \xa0 \xa0 - Anti-inflammatory effects via inhibition of microglial activation.\n\n"
        "• Responders started to observe treatment effect"
    )
    assert clean_text(raw) == (
        "Additional benefits include:\n\n"
        "- Anti-inflammatory effects via inhibition of microglial activation.\n\n"
        "- Responders started to observe treatment effect"
    )


# ---- spaced-out headings ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("M ETHODS", "METHODS"),  # Erasmus
        (" A B S T R A C T", "ABSTRACT"),  # Mackay
        ("RESU LTS", "RESULTS"),  # Erasmus
        ("R E S U LT S", "RESULTS"),
        ("TA B L E  1  Patients’ baseline characteristics", "TABLE 1 Patients’ baseline characteristics"),
        ("F I G U R E  2  Pain scores of patients with CRPS", "FIGURE 2 Pain scores of patients with CRPS"),
    ],
)
def test_spaced_out_headings_are_joined(raw: str, expected: str) -> None:
    assert clean_text(raw) == expected


@pytest.mark.parametrize(
    "text",
    [
        "T0, T1, and T2 were compared.",
        "The A B test was done.",
        "N = 33",
        "CASE REPORT",
        "CRPS IS A DISEASE",
    ],
)
def test_ordinary_capitals_are_not_joined(text: str) -> None:
    assert clean_text(text) == text


# ---- hyphens ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # typesetting hyphens are removed
        ("The dose and dura-\ntion of ketamine therapy", "The dose and duration of ketamine therapy"),
        ("The treatment of Complex Regional Pain Syn-\ndrome (CRPS)", "The treatment of Complex Regional Pain Syndrome (CRPS)"),
        ("who received second courses of treatment experi-\nenced complete relief", "who received second courses of treatment experienced complete relief"),
        ("According to our inpa-\n\ntient protocol, S- ketamine dose", "According to our inpatient protocol, S-ketamine dose"),
        ("Centraliza-\n tion of pain is often used", "Centralization of pain is often used"),
        # real hyphens are kept
        ("because overexcitation of the N-\nmethyl-D-Aspartate (NMDA) receptor", "because overexcitation of the N-methyl-D-Aspartate (NMDA) receptor"),
        ("What is known about the clinical effects of S- \nketamine administration", "What is known about the clinical effects of S-ketamine administration"),
        ("who underwent a 4-\nday ketamine infusion protocol", "who underwent a 4-day ketamine infusion protocol"),
        ("was analyzed by Kaplan-\nMeier survival analysis", "was analyzed by Kaplan-Meier survival analysis"),
        ("the activation of NMDA-\nreceptors was blocked", "the activation of NMDA-receptors was blocked"),
        ("Nociceptive pain in CRPS is treated in a step- by- \nstep manner", "Nociceptive pain in CRPS is treated in a step-by-step manner"),
        ("S- ketamine for patients with CRPS type I with therapy- \nresistant pain", "S-ketamine for patients with CRPS type I with therapy-resistant pain"),
        ("After recording the pre-\nand postinfusion verbal numeric pain scores", "After recording the pre- and postinfusion verbal numeric pain scores"),
    ],
)  # fmt: skip
def test_hyphens_at_line_breaks(raw: str, expected: str) -> None:
    assert clean_text(raw) == expected


def test_document_vocabulary_decides_between_joining_and_keeping() -> None:
    raw = "Less frequent side effects also included complaints of light-\nheadedness, dizziness, and nausea."
    assert "complaints of lightheadedness," in clean_text(raw)
    assert "complaints of light-headedness," in clean_text(raw, Counter({"light-headedness": 1}))
    assert "complaints of lightheadedness," in clean_text(raw, Counter({"lightheadedness": 3, "light-headedness": 1}))


def test_vocabulary_holds_words_compounds_and_their_pairs() -> None:
    vocab = build_vocabulary("treated in a step- by- step manner at follow-up")
    assert {"step-by-step", "step-by", "by-step", "follow-up", "follow", "manner"} <= set(vocab)
    assert vocab["step"] == 2


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("intravenous S- ketamine treatment", "intravenous S-ketamine treatment"),
        ("the effectiveness of a low- dose", "the effectiveness of a low-dose"),
        ("Results: Forty- eight patients were included.", "Results: Forty-eight patients were included."),
        ("at the first follow- up outpatient appointment", "at the first follow-up outpatient appointment"),
        ("Neuropathic pain is treated with co- analgesics.", "Neuropathic pain is treated with co-analgesics."),
        ("Medical Center Rotterdam (MEC- 2019- 0209).", "Medical Center Rotterdam (MEC-2019-0209)."),
        ("with steps of 1– 2 mg/h.", "with steps of 1–2 mg/h."),
        # left alone: suspended hyphens, list dashes, ranges and minus signs
        ("aggressive peri- and postoperative ketamine infusions", "aggressive peri- and postoperative ketamine infusions"),
        ("injury to the Aδ- and C- fibers", "injury to the Aδ- and C-fibers"),
        ("- Not all patients respond", "- Not all patients respond"),
        ("infusions lasting 4 - 10 days", "infusions lasting 4 - 10 days"),
        ("a change of -2 points", "a change of -2 points"),
        ("large conductance Ca2+- and voltage-activated K+", "large conductance Ca2+- and voltage-activated K+"),
    ],
)  # fmt: skip
def test_spurious_space_after_an_inline_hyphen_is_removed(raw: str, expected: str) -> None:
    assert clean_text(raw) == expected


# ---- paragraphs -------------------------------------------------------------------------------------
ERASMUS_ABSTRACT = (  # every wrapped line is followed by a blank line
    " Abstract\n\nObjective: The objective of this study was to assess the effectiveness of a low- dose \n\n"
    "intravenous S- ketamine treatment on refractory pain in patients with Complex \n\n"
    "Regional Pain Syndrome (CRPS).\n\n"
    "Methods: In this retrospective study, patients with CRPS who received intravenous \n\n"
    "S- ketamine from March 2010 to April 2019 were included. According to our inpa-\n\n"
    "tient protocol, S- ketamine dose was increased until pain reduction was achieved \n\n"
    "or side effects were observed. Maximum dose was 14\xa0mg/h and treatment duration \n\n"
    "was 7\xa0days. Primary outcome parameters were pain scores (Numeric Rating Scale) \n\n"
    "at baseline (T0), end of infusion (T1), and approximately 4\xa0weeks postinfusion (T2). \n\n"
    "Patients were categorized as responder/nonresponder at T1 and T2. Patients were \n\n"
    "considered a responder in case there was pain score reduction of greater than or \n\n"
    "equal to 2 points or if treatment was reported as successful.\n\n"
    "Results: Forty- eight patients were included. Mean disease duration was 5\xa0years (in-\n\n"
    "terquartile range [IQR]\xa0=\xa06 years).\n"
    " INTRODUCTION\n\n"
)


def test_blank_line_wrapped_abstract_becomes_one_paragraph_per_label() -> None:
    assert clean_text(ERASMUS_ABSTRACT).split("\n\n") == [
        "Abstract",
        "Objective: The objective of this study was to assess the effectiveness of a low-dose intravenous "
        "S-ketamine treatment on refractory pain in patients with Complex Regional Pain Syndrome (CRPS).",
        "Methods: In this retrospective study, patients with CRPS who received intravenous S-ketamine from "
        "March 2010 to April 2019 were included. According to our inpatient protocol, S-ketamine dose was "
        "increased until pain reduction was achieved or side effects were observed. Maximum dose was 14 mg/h "
        "and treatment duration was 7 days. Primary outcome parameters were pain scores (Numeric Rating Scale) "
        "at baseline (T0), end of infusion (T1), and approximately 4 weeks postinfusion (T2). Patients were "
        "categorized as responder/nonresponder at T1 and T2. Patients were considered a responder in case "
        "there was pain score reduction of greater than or equal to 2 points or if treatment was reported "
        "as successful.",
        "Results: Forty-eight patients were included. Mean disease duration was 5 years "
        "(interquartile range [IQR] = 6 years).",
        "INTRODUCTION",
    ]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # a short line ending a sentence ends the paragraph even without a blank line (skin temperature)
        ("of CRPS appears to be more complex than peripheral\nnerve damage alone.\nCentralization of pain is a theory that repetitive\nperipheral stimulation causes changes",
         "of CRPS appears to be more complex than peripheral nerve damage alone.\n\nCentralization of pain is a theory that repetitive peripheral stimulation causes changes"),
        # a blank line inside a sentence does not (Mackay)
        ("Kaplan-Meier curves are commonly used for\nsurvival analysis. They were used here to illustrate\n\nthe time course over which the maintenance of",
         "Kaplan-Meier curves are commonly used for survival analysis. They were used here to illustrate the time course over which the maintenance of"),
        # headings stay on their own (Erasmus, skin temperature)
        ("to the\n\ntreatment.\n INTRODUCTION\n\nComplex Regional Pain Syndrome (CRPS) type 1 is a \nsyndrome characterized",
         "to the treatment.\n\nINTRODUCTION\n\nComplex Regional Pain Syndrome (CRPS) type 1 is a syndrome characterized"),
        ("CASE REPORT\nA 16-year-old female patient with chronic CRPS,\ntype II presented to the Florida Spine Institute",
         "CASE REPORT\n\nA 16-year-old female patient with chronic CRPS, type II presented to the Florida Spine Institute"),
        # list items stay separate (Chopra)
        ("While research is ongoing, multiple studies and case series support its efficacy:\n- Schwartzman et al. (2009) reported sustained pain relief.\n- Sigtermans et al. (2009, *Pain*), in a double-blind placebo-controlled trial",
         "While research is ongoing, multiple studies and case series support its efficacy:\n\n- Schwartzman et al. (2009) reported sustained pain relief.\n\n- Sigtermans et al. (2009, *Pain*), in a double-blind placebo-controlled trial"),
        # table rows stay separate (Erasmus Table 1, Mackay Table 3)
        ("n\xa0=\xa048\n\nAge (years) 39 (SD\xa0±\xa014)\n\nGender\n\nMale 7 (15%)\n\nFemale 41 (85%)",
         "n = 48\n\nAge (years) 39 (SD ± 14)\n\nGender\n\nMale 7 (15%)\n\nFemale 41 (85%)"),
        ("£15 10 (30%) 2 (17%) 12 (26%)\n16–20 12 (36%) 3 (25%) 16 (34%)\n21–25 3 (9%) 4 (33%) 8 (17%)",
         "≤15 10 (30%) 2 (17%) 12 (26%)\n\n16–20 12 (36%) 3 (25%) 16 (34%)\n\n21–25 3 (9%) 4 (33%) 8 (17%)"),
        # a keyword list ends at its blank line, even before a lower-case column continuation (Mackay)
        ("Key Words. Alpha-2-Adrenergic Agonist; Central Sensitization;\nKetamine; Neuropathic Pain\n\n\nsufficient drug exposure over time to achieve the\ndesired objective.",
         "Key Words. Alpha-2-Adrenergic Agonist; Central Sensitization; Ketamine; Neuropathic Pain\n\nsufficient drug exposure over time to achieve the desired objective."),
        # a range split after its dash is rejoined (Mackay)
        ("a slight shift of the maximum from 15–20 to 20–\n25mg/hr (Table 3; Discussion).",
         "a slight shift of the maximum from 15–20 to 20–25mg/hr (Table 3; Discussion)."),
    ],
)  # fmt: skip
def test_lines_are_joined_into_paragraphs(raw: str, expected: str) -> None:
    assert clean_text(raw) == expected


@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: p.stem)
def test_output_is_paragraphs_of_single_lines(path: Path, cleaned: dict[str, str]) -> None:
    text = cleaned[path.stem]
    paragraphs = text.split("\n\n")
    assert all(p and p == p.strip() and "\n" not in p and "  " not in p for p in paragraphs)


@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: p.stem)
def test_clean_text_is_idempotent_on_the_corpus(path: Path, cleaned: dict[str, str]) -> None:
    assert clean_text(cleaned[path.stem]) == cleaned[path.stem]


@pytest.mark.parametrize("raw", [ERASMUS_ABSTRACT, "", "  \n\n ", "pre-\n\nTable 2 Analysis", "91.2\n\npossible that"])
def test_clean_text_is_idempotent_on_snippets(raw: str) -> None:
    once = clean_text(raw)
    assert clean_text(once) == once


def test_corpus_defects_are_gone(cleaned: dict[str, str]) -> None:
    everything = "\n\n".join(cleaned.values())
    assert not re.search(r"£ ?\d", everything)
    assert "M ETHODS" not in everything and "A B S T R A C T" not in everything
    assert "S-ketamine" in cleaned["erasmus-low-dose-s-ketamine-cohort"]
    assert "S- ketamine" not in cleaned["erasmus-low-dose-s-ketamine-cohort"]
    assert "≤25mg/hr" in cleaned["mackay-low-dose-ketamine-retrospective"]


# ---- sections ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "title"),
    [
        ("INTRODUCTION", "Introduction"),
        ("Materials and Methods", "Methods"),
        ("Patients and Methods", "Methods"),
        ("CONCLUSIONS", "Conclusion"),
        ("CASE", "Case Report"),  # amputation case report
        ("Case Presentation", "Case Report"),
        ("Acknowledgements", "Acknowledgments"),
        ("Appendix 1", "Appendix 1"),
        ("Methods. Case notes of 33 patients whose CRPS pain was treated", "Methods"),
        ("Objective: The objective of this study was to assess", "Objective"),
        ("Case Report: A 50-year-old man with a history of refractory CRPS", "Case Report"),
        ("Table 3 Maximum dose of ketamine infusion", "Table 3"),
        ("TABLE 1 Patients’ baseline characteristics", "Table 1"),
        ("Table 1. Functional measures of activity", "Table 1"),
        ("Fig. 1. Thermal images of the CRPS-affected and unaffected foot", "Figure 1"),
    ],
)
def test_heading_paragraphs_start_sections(text: str, title: str) -> None:
    doc = f"Some opening words.\n\n{text}\n\nThe body of the section follows here and goes on for a while."
    sections = [(s.start, s.title) for s in detect_sections(doc)]
    if re.match(r"(table|fig)", text, re.I) or re.search(r"[.:] \S", text):
        # a caption or an abstract label paragraph governs only itself: the prose after it is in no section
        assert sections == [(21, title), (doc.index("The body"), "")]
    else:  # a heading governs the text after it
        assert sections == [(21, title)]


def test_prose_after_a_table_returns_to_the_section_the_table_interrupted() -> None:
    doc = ("DISCUSSION\n\nResponders were many.\n\nTABLE 3 (Non)responders at T1 and T2\n\nT2\n\n"
           "Responder 19 (48) 6 (15) 25 (63)\n\nNote: n = 40.\n\n"
           "T2. For these patients, continued treatment might be necessary.")
    sections = [(doc[s.start : s.start + 6], s.title) for s in detect_sections(doc)]
    assert sections == [("DISCUS", "Discussion"), ("TABLE ", "Table 3"), ("T2. Fo", "Discussion")]


def test_a_figure_caption_is_one_paragraph_and_a_reference_list_is_its_own_section() -> None:
    doc = ("Results\n\nFigure 1 Pain over time.\n\nthe pain fell by half in the first two weeks of the study.\n\n"
           "1. Schwartzman RJ, Alexander GM. Outpatient ketamine. Pain. 2009;147(1-3):107-15.\n\n"
           "We thank the nurses for their help with the study.")
    titles = [(doc[s.start : s.start + 5], s.title) for s in detect_sections(doc)]
    assert titles == [("Resul", "Results"), ("Figur", "Figure 1"), ("the p", "Results"), ("1. Sc", "References"),
                      ("We th", "Results")]


@pytest.mark.parametrize(
    "text",
    [
        "Table 1), treatment resulted in elevations of liver",  # a reference, not a caption
        "Note: Except for age, all calculated values were obtained",
        "Key Words. Alpha-2-Adrenergic Agonist; Central Sensitization",
        "The discussion of methods follows.",
    ],
)
def test_ordinary_paragraphs_start_no_section(text: str) -> None:
    assert detect_sections(f"Some opening words.\n\n{text}") == ()


def test_free_form_title_headings_only_in_documents_without_paper_structure() -> None:
    article = "What Is Ketamine?\n\nKetamine in sub-anesthetic doses modulates central sensitization.\n\nBenefits\n\n- Substantial pain reduction in a subset of patients"
    assert [s.title for s in detect_sections(article)] == ["What Is Ketamine?", "Benefits"]
    paper = "METHODS\n\nKey Points\n\n- Responders started to observe treatment effect within 2 days"
    assert [s.title for s in detect_sections(paper)] == ["Methods"]


EXPECTED_SECTIONS = {  # a table or figure block ends where prose resumes: back to the heading it interrupted
    "amputation-ketamine-case-report": [
        "Background", "Case Report", "Conclusion", "Background", "Case Report", "Discussion", "Table 1", "Conclusion"],
    "chopra-iv-ketamine-for-crps": [
        "What Is Ketamine?", "How Does It Work for CRPS?", "Evidence Supporting Ketamine in CRPS",
        "Clinical Use: What Patients Should Know", "Benefits", "Limitations", "The Future of Ketamine in CRPS",
        "References", "Disclaimer"],
    "erasmus-low-dose-s-ketamine-cohort": [
        "Abstract", "Objective", "Methods", "Results", "Conclusion", "Introduction", "Methods", "Results",
        "Table 1", "Table 2", "Figure 1", "Results", "Discussion", "Figure 2", "Table 3", "Discussion", "Conclusion"],
    "ketamine-skin-temperature-case-report": [
        "Background", "Case Report", "Conclusion", "Background", "Case Report", "Discussion", "Figure 1", "Table 1",
        "Discussion"],
    "mackay-low-dose-ketamine-retrospective": [
        "Abstract", "Objective", "Methods", "Results", "Introduction", "Conclusion", "Introduction", "Methods",
        "Table 1", "Methods", "Table 2", "Table 3", "Table 1", "Results", "Table 4", "Results", "Figure 1", "Table 5",
        "Results", "Discussion", "Figure 2", "Discussion", "Appendix 1"],
}  # fmt: skip


@pytest.mark.parametrize("stem", sorted(EXPECTED_SECTIONS))
def test_sections_of_the_corpus(stem: str, cleaned: dict[str, str]) -> None:
    text = cleaned[stem]
    sections = detect_sections(text)
    assert [s.title for s in sections] == EXPECTED_SECTIONS[stem]
    starts = [s.start for s in sections]
    assert starts == sorted(starts)
    assert all(start == 0 or text[start - 2 : start] == "\n\n" for start in starts)


def test_mackay_table_3_is_a_section_holding_the_cleaned_rows(cleaned: dict[str, str]) -> None:
    text = cleaned["mackay-low-dose-ketamine-retrospective"]
    table_3 = next(s for s in detect_sections(text) if s.title == "Table 3")
    assert text[table_3.start :].startswith("Table 3 Maximum dose of ketamine infusion\n\n")
    assert "\n\n≤15 10 (30%) 2 (17%) 12 (26%)\n\n16–20 12 (36%)" in text[table_3.start :]


# ---- documents --------------------------------------------------------------------------------------
def raw_document(*pages: str, numbered: bool = True) -> RawDocument:
    return RawDocument(doc_id="doc", path="doc.pdf", pages=pages, has_page_numbers=numbered, sha256="0" * 64)


def test_pages_are_cleaned_joined_and_located() -> None:
    doc = normalize_document(raw_document("M ETHODS\nThe rate was £25mg/hr.", "R E S U LT S\nPain fell."))
    assert doc.text == "METHODS\n\nThe rate was ≤25mg/hr.\n\nRESULTS\n\nPain fell."
    assert doc.page_starts == (0, doc.text.index("RESULTS"))
    assert [(s.start, s.title) for s in doc.sections] == [(0, "Methods"), (doc.page_starts[1], "Results")]
    assert doc.page_at(doc.text.index("≤25")) == 1
    assert doc.page_at(doc.text.index("Pain fell")) == 2
    assert doc.section_at(doc.text.index("Pain fell")) == "Results"


def test_an_empty_page_owns_no_text() -> None:
    doc = normalize_document(raw_document("First page.", "  \n", "Third page."))
    assert doc.text == "First page.\n\nThird page."
    assert doc.page_at(doc.text.index("Third")) == 3
    assert doc.page_at(0) == 1


def test_text_files_have_no_page_starts() -> None:
    doc = normalize_document(raw_document("One page of text.", numbered=False))
    assert doc.page_starts == () and doc.page_at(0) is None


def test_hyphenation_uses_the_whole_document_as_vocabulary() -> None:
    doc = normalize_document(raw_document("Two patients felt light-\nheaded after it.", "One was light-headed for a day."))
    assert doc.text.startswith("Two patients felt light-headed after it.")
