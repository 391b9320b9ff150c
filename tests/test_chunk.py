import pytest

from crps_qa.ingest.chunk import chunk_document, chunk_id, split_sentences
from crps_qa.types import CleanDocument, Section


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        ("Pain fell. It rose again.", ["Pain fell.", "It rose again."]),
        ("Schwartzman et al. (2009) reported relief. It lasted.",
         ["Schwartzman et al. (2009) reported relief.", "It lasted."]),
        ("The dose was 0.5 mg/kg. Then 1.5 mg/kg.", ["The dose was 0.5 mg/kg.", "Then 1.5 mg/kg."]),
        ("Side effects (e.g. nausea) occurred. None were severe.",
         ["Side effects (e.g. nausea) occurred.", "None were severe."]),
        ("Women are affected 3 times more often.4 CRPS is diagnosed clinically.",
         ["Women are affected 3 times more often.4", "CRPS is diagnosed clinically."]),
        ("Methods\n\nCase notes were reviewed", ["Methods", "Case notes were reviewed"]),
        ("Did it work? Yes! Mostly.", ["Did it work?", "Yes!", "Mostly."]),
    ],
)
def test_split_sentences(text, sentences):
    assert [text[s:e] for s, e in split_sentences(text)] == sentences


def _doc(text: str, sections=(), page_starts=()) -> CleanDocument:
    return CleanDocument(doc_id="d", text=text, sections=tuple(sections), page_starts=tuple(page_starts))


def test_passages_are_exact_spans_of_whole_sentences():
    text = "One two three. Four five six seven. Eight nine. Ten eleven twelve thirteen fourteen."
    passages = chunk_document(_doc(text), max_words=6, overlap_sentences=0)
    assert [p.text for p in passages] == [
        "One two three.",  # adding the 4-word sentence would make 7 > 6
        "Four five six seven. Eight nine.",
        "Ten eleven twelve thirteen fourteen.",
    ]
    for p in passages:
        assert text[p.char_start : p.char_end] == p.text


def test_overlap_repeats_trailing_sentences():
    text = "Ab cd. Ef gh. Ij kl. Mn op."
    passages = chunk_document(_doc(text), max_words=4, overlap_sentences=1)
    assert [p.text for p in passages] == ["Ab cd. Ef gh.", "Ef gh. Ij kl.", "Ij kl. Mn op."]


def test_overlap_always_makes_progress():
    text = "One two three four five six. Seven eight nine ten eleven twelve."
    passages = chunk_document(_doc(text), max_words=3, overlap_sentences=3)
    assert [p.text for p in passages] == ["One two three four five six.", "Seven eight nine ten eleven twelve."]


def test_passages_never_cross_sections_and_know_their_section_and_page():
    text = "Methods\n\nWe infused ketamine. It was slow.\n\nResults\n\nPain fell."
    sections = [Section(0, "Methods"), Section(text.index("Results"), "Results")]
    doc = _doc(text, sections, page_starts=[0, text.index("Pain")])
    passages = chunk_document(doc, max_words=100, overlap_sentences=1)
    assert [(p.text, p.section, p.page) for p in passages] == [
        ("Methods\n\nWe infused ketamine. It was slow.", "Methods", 1),
        ("Results\n\nPain fell.", "Results", 1),
    ]


def test_chunk_ids_are_stable_and_unique():
    text = "Same sentence.\n\nSame sentence."
    first = chunk_document(_doc(text), max_words=2, overlap_sentences=0)
    again = chunk_document(_doc(text), max_words=2, overlap_sentences=0)
    assert [p.chunk_id for p in first] == [p.chunk_id for p in again]
    assert len({p.chunk_id for p in first}) == 2
    assert first[0].chunk_id == chunk_id("d", "Same sentence.")


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError):
        chunk_document(_doc("x."), max_words=0)


def test_a_title_or_heading_alone_is_not_a_passage():
    doc = _doc("Ketamine for pain\n\nAbstract\n\nPain fell.", sections=(Section(19, "Abstract"),))
    assert [p.text for p in chunk_document(doc)] == ["Abstract\n\nPain fell."]
