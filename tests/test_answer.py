"""Extractive answers: exact citations, duplicate suppression, honest refusals, the ask CLI and the
answer metrics. Unit tests run on a tiny corpus with the fake embedder; `model` tests on the real one."""

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from crps_qa.answer import candidates as answer_module
from crps_qa.answer.answerer import Answerer
from crps_qa.answer.candidates import (
    WEIGHTS,
    Scored,
    answer_type_match,
    is_question,
    near_duplicate,
    select,
)
from crps_qa.answer.texts import MARKER, REFUSAL, UNCERTAIN
from crps_qa.cli import app
from crps_qa.evaluate.harness import Question, answer_hit, evaluate_answers, load_questions
from crps_qa.index import embed
from crps_qa.index.build import build
from crps_qa.index.match_text import with_caption
from crps_qa.ingest.chunk import is_fragment
from crps_qa.pipeline import Pipeline
from crps_qa.search.late import is_content_piece
from crps_qa.settings import Settings
from crps_qa.types import Answer, Citation, Hit
from fakes import FakeEmbedder, analysed

QUESTIONS = Path(__file__).resolve().parent.parent / "eval" / "questions.jsonl"

ABBREVIATION_DOCS = {  # the treatment sentence says only "CRPS"; the question only the long form
    "syndrome.txt": (
        "A regional syndrome\n\nBackground\n\n"
        "Complex regional pain syndrome (CRPS) is a disorder of one limb.\n\n"
        "Treatment\n\nIn CRPS, flares were settled with ketamine."
    ),
    "gout.txt": "Gout\n\nTreatment\n\nIn gout, flares were settled with ice packs and rest.",
}


TWO_DRUG_DOCS = {
    "ketamine.txt": "Ketamine study\n\nMethods\n\nThe ketamine dose was 10 mg/h for four days. They rested.",
    "lidocaine.txt": "Lidocaine study\n\nMethods\n\nThe lidocaine dose was 2 mg/kg in an hour. They walked.",
    "knee.txt": "Knee study\n\nMethods\n\nThe knee was examined by a physiotherapist every week.",
}


def _corpus(folder: Path, docs: dict[str, str]) -> Path:
    folder.mkdir()
    for name, text in docs.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def _pipeline(settings: Settings, embedder: FakeEmbedder) -> Pipeline:
    build(settings, embedder)
    return Pipeline.open(settings, embedder=embedder)


@pytest.fixture
def tiny(tiny_settings, fake_embedder) -> Pipeline:
    return _pipeline(tiny_settings, fake_embedder)


def assert_exact(pipeline: Pipeline, answer: Answer) -> None:
    """Every citation quotes its document exactly, and markers [1..n] follow the answer's sentences."""
    for citation in answer.citations:
        text = pipeline.data.texts[citation.doc_id].text
        assert text[citation.char_start : citation.char_end] == citation.quote
        assert citation.chunk_id.startswith(citation.doc_id + "#")
    assert [c.marker for c in answer.citations] == list(range(1, len(answer.citations) + 1))
    parts = [f"{' '.join(c.quote.split())} {MARKER.format(n=c.marker)}" for c in answer.citations]
    if answer.decided == "answered":  # each quoted sentence (whitespace collapsed), then its marker
        assert answer.answer == " ".join(parts)
    elif answer.decided == "uncertain":  # the sentences are cited, the text claims nothing
        assert answer.answer == UNCERTAIN and answer.citations
    assert 0.0 <= answer.confidence <= 1.0


# ---------------------------------------------------------------------------- fixed texts


def test_the_refusal_phrase_and_marker_are_fixed():
    assert REFUSAL.startswith("Not found in the corpus: ")
    assert MARKER.format(n=2) == "[2]"


# ---------------------------------------------------------------------------- tiny corpus


def test_answer_quotes_the_sentence_that_holds_the_asked_quantity(tiny):
    answer = tiny.ask("What was the maximum infusion rate?", k=2)
    assert not answer.refused
    assert answer.citations[0].quote == "The maximum infusion rate was 40 mg/h."
    assert answer.answer.startswith("The maximum infusion rate was 40 mg/h. [1]")
    assert len(answer.citations) <= 3 and len(answer.passages) == 2
    assert_exact(tiny, answer)


def test_an_off_topic_question_is_refused_with_related_reading(tiny):
    answer = tiny.ask("How do I fix a flat tire on a bicycle?", k=3)
    assert answer.refused and answer.answer == REFUSAL
    assert answer.citations == () and len(answer.passages) == 3
    assert answer.confidence < 0.5


def test_overlapping_passages_do_not_repeat_a_sentence(tiny):
    # chunk_max_words=20 with one sentence of overlap: neighbouring passages share a sentence.
    hits = tiny.search("ketamine rate raised every day maximum", k=10)
    spans = [(h.doc_id, h.char_start, h.char_end) for h in hits]
    assert len(spans) == len(set(spans)) and any(a[2] > b[1] for a, b in zip(spans, spans[1:], strict=False))
    scored = tiny.answerer().score(analysed(tiny, "ketamine rate raised every day maximum"), hits)
    keys = [(s.doc_id, s.char_start, s.char_end) for s in scored]
    assert len(keys) == len(set(keys))


def _scored(quote: str, score: float, vector: list[float], start: int = 0, *, fragment: float = 0.0,
            sentences: tuple[tuple[int, int], ...] = ()) -> Scored:
    hit = Hit(1, 1.0, "d", "T", None, None, start, start + len(quote), "d#1", quote)
    unit = np.asarray(vector, dtype=np.float32) / np.linalg.norm(vector)
    part = score / sum(WEIGHTS.values())  # with every part equal, the weighted sum is `score`
    return Scored("d", start, start + len(quote), quote, hit, part, part, part, part, unit, fragment,
                  sentences, match=part)


def test_near_duplicate_sentences_are_cited_once():
    first = _scored("Pain fell from 8 to 3 after the infusion.", 0.9, [1, 0, 0])
    repeat = _scored("Pain fell from 8 to 3 after the infusion.", 0.89, [0, 1, 0], start=500)  # same words
    echo = _scored("After the infusion the pain dropped.", 0.88, [1, 0.01, 0], start=900)  # same meaning
    new = _scored("Nausea was the most common side effect.", 0.85, [0, 0, 1], start=1200)
    assert near_duplicate(first, repeat) and near_duplicate(first, echo) and not near_duplicate(first, new)
    assert [s.quote for s in select([first, repeat, echo, new])] == [first.quote, new.quote]


def test_a_sentence_repeated_elsewhere_in_a_paper_is_cited_once_even_inside_a_pair():
    repeated = "Hallucinations occurred in six patients."
    pair = _scored(f"{repeated} Nobody became addicted.", 0.9, [1, 0, 0], sentences=((0, 40), (41, 64)))
    again = _scored(repeated, 0.85, [0, 1, 0], start=900)  # the same sentence in the results section
    other = _scored("Nausea was common.", 0.8, [0, 0, 1], start=1200)
    assert near_duplicate(pair, again)
    assert [s.quote for s in select([pair, again, other])] == [pair.quote, other.quote]


def test_runners_up_must_score_close_to_the_best_sentence():
    best = _scored("The maximum rate was 40 mg/h.", 0.9, [1, 0, 0])
    far = _scored("Nausea was common.", 0.9 - answer_module.EXTRA_MARGIN - 0.01, [0, 1, 0], start=100)
    assert select([best, far]) == [best]


def test_a_pair_counts_as_two_sentences_and_is_not_repeated_by_its_halves():
    first, second = "Ten patients had a second course.", "All of them were pain free."
    pair = _scored(f"{first} {second}", 0.95, [1, 0, 0, 0], sentences=((0, 33), (34, 61)))  # 0.95 - PAIR_COST
    half = _scored(second, 0.88, [0, 1, 0, 0], start=34)  # overlaps the pair: nothing new
    other = _scored("Nausea was common.", 0.87, [0, 0, 1, 0], start=200)
    third = _scored("Relief lasted three months.", 0.86, [0, 0, 0, 1], start=300)
    assert [s.quote for s in select([pair, half, other, third])] == [pair.quote, other.quote]  # 2 + 1 = 3


def test_the_sentences_own_match_orders_candidates_and_the_passage_rank_breaks_near_ties(tiny):
    def candidate(quote: str, match: float, passage: float, start: int) -> Scored:
        hit = Hit(1, 1.0, "d", "T", None, None, start, start + len(quote), "d#1", quote)
        unit = np.ones(3, dtype=np.float32) / np.sqrt(3)
        return Scored("d", start, start + len(quote), quote, hit, match, match, 0.0, passage, unit, match=match)

    top_passage = candidate("Ketamine was given on the ward.", 0.3, 1.0, 0)  # best passage, weak match
    matching = candidate("The ketamine rate was 40 mg/h.", 0.8, 0.3, 100)  # lower passage, strong match
    assert select([top_passage, matching])[0] is matching
    close = candidate("Ketamine ran at 40 mg/h on the ward.", 0.75, 1.0, 200)  # nearly as good, best passage
    assert select([matching, close])[0] is close
    assert matching.support > close.support  # refusal weighs the sentence's own match only
    assert analysed(tiny, "ketamine rate").unknown_share == 0.0
    evidence = Answerer.evidence(analysed(tiny, "ketamine rate"), [top_passage, matching])
    assert evidence == pytest.approx(matching.support)


def test_a_heading_scores_below_a_sentence_with_the_same_match():
    heading = _scored("Ketamine Infusion Rate", 0.8, [1, 0, 0], fragment=1.0)
    sentence = _scored("The infusion rate was 40 mg/h.", 0.8, [0, 1, 0], start=100)
    assert heading.score == pytest.approx(0.8 - answer_module.FRAGMENT_PENALTY)
    assert select([heading, sentence])[0] is sentence


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("Intravenous Ketamine for Complex Regional Pain Syndrome (CRPS): A Promising Option", 1.0),  # title
        ("Functional Measure Preamputation Post Amputation", 1.0),  # table header
        ("TUG 42 s 19 s", 1.0),  # table row
        ("Results", 1.0),
        ("Hallucinations occurred in six patients.", 0.0),
        ("CRPS is characterized by a variable progression over time.2", 0.0),  # reference number
        ("Pain is the key feature (2).", 0.0),
        ("- Anti-inflammatory effects via inhibition of microglial activation.", 0.0),  # list item
    ],
)
def test_headings_titles_and_table_rows_are_fragments(text, fragment):
    assert is_fragment(text) == fragment


def test_number_words_match_digits(tiny):
    terms = tiny.analyzer.terms
    assert terms("four categories") == terms("4 categories")


def test_a_heading_or_keyword_line_is_never_half_of_a_pair(tmp_path, fake_embedder):
    docs = {"trial.txt": ("Ketamine Trial\n\nKeywords: Ketamine; Infusion Rate; Complex Regional Pain Syndrome\n\n"
                          "The infusion rate was 40 mg/h. Pain fell by half.")}
    settings = Settings(corpus_dir=_corpus(tmp_path / "corpus", docs), index_dir=tmp_path / "index", model="fake")
    pipeline = _pipeline(settings, fake_embedder)
    question = analysed(pipeline, "What was the ketamine infusion rate?")
    scored = pipeline.answerer().score(question, pipeline.search("infusion rate", k=5))
    pairs = [s for s in scored if len(s.spans) == 2]
    assert pairs and all(not is_fragment(s.quote[: s.spans[0][1] - s.char_start]) for s in pairs)
    assert any(s.quote == "The infusion rate was 40 mg/h. Pain fell by half." for s in pairs)


def test_a_question_in_the_paper_is_never_quoted_as_the_answer(tmp_path, fake_embedder):
    docs = {"review.txt": ("Ketamine review\n\nHow does ketamine work for CRPS?\n\n"
                           "Ketamine works in CRPS by blocking NMDA receptors. Pain fell by half.")}
    settings = Settings(corpus_dir=_corpus(tmp_path / "corpus", docs), index_dir=tmp_path / "index", model="fake")
    pipeline = _pipeline(settings, fake_embedder)
    answer = pipeline.ask("How does ketamine work for CRPS?")
    quotes = [c.quote for c in answer.citations]
    assert quotes and not any("?" in q for q in quotes), quotes
    assert is_question("How Does It Work for CRPS?") and is_question('He asked "why not?"')
    assert not is_question("Ketamine blocks NMDA receptors.")


def test_an_answer_split_over_two_sentences_is_quoted_as_one_span(tmp_path, fake_embedder):
    docs = {
        "case.txt": (
            "A case\n\nResults\n\nThe other report describes a man whose knee surgery failed. "
            "At follow-up his scores fell from 8 to 3.\n\nDiscussion\n\nKnee pain is common in athletes."
        ),
        "other.txt": "Another study\n\nMethods\n\nShoulder pain was treated with rest and ice.",
    }
    settings = Settings(corpus_dir=_corpus(tmp_path / "corpus", docs), index_dir=tmp_path / "index",
                        model="fake")
    pipeline = _pipeline(settings, fake_embedder)
    # neither sentence alone matches the question as well as the two together
    answer = pipeline.ask("How had his scores changed at follow-up, the man in the other report whose knee "
                          "surgery failed?")
    assert not answer.refused
    assert answer.citations[0].quote == (
        "The other report describes a man whose knee surgery failed. "
        "At follow-up his scores fell from 8 to 3."
    )
    assert_exact(pipeline, answer)


def test_answer_sentences_use_the_index_vectors_and_encode_only_the_question(tiny, fake_embedder):
    before = fake_embedder.calls
    answer = tiny.ask("What was the maximum infusion rate?")
    assert not answer.refused
    assert fake_embedder.calls - before == 1  # the question, once for search and answer; no sentence


def test_sentence_token_vectors_are_encoded_once_and_cached(tiny, fake_embedder):
    tiny.ask("What was the maximum infusion rate?")
    first = fake_embedder.token_calls
    assert first > 1  # the question and the candidate sentences
    tiny.ask("What was the maximum infusion rate?")
    assert fake_embedder.token_calls - first == 1  # only the question again


def test_an_embedder_without_token_vectors_falls_back_to_the_sentence_cosine(tmp_path, fake_embedder):
    class PooledOnly:  # the Embedder protocol alone: no encode_tokens / word_pieces
        name, dimension = fake_embedder.name, fake_embedder.dimension
        encode = staticmethod(fake_embedder.encode)

    settings = Settings(corpus_dir=_corpus(tmp_path / "corpus", TWO_DRUG_DOCS), index_dir=tmp_path / "index",
                        model="fake")
    pipeline = _pipeline(settings, PooledOnly())
    answer = pipeline.ask("What was the ketamine dose?")
    assert not answer.refused and "10 mg/h" in answer.citations[0].quote
    assert_exact(pipeline, answer)
    question = analysed(pipeline, "What was the ketamine dose?")
    scored = pipeline.answerer().score(question, pipeline.search("ketamine dose", k=3))
    assert all(s.match == s.dense for s in scored)


def test_ask_gets_the_questions_vector_and_token_vectors_from_one_model_pass(tmp_path):
    class OnePass(FakeEmbedder):
        def __init__(self) -> None:
            super().__init__()
            self.separately: list[str] = []  # texts sent to encode_tokens on their own
            self.passes: list[str] = []

        def encode_tokens(self, texts, *, batch_size=32):
            self.separately.extend(texts)
            return super().encode_tokens(texts, batch_size=batch_size)

        def encode_with_tokens(self, texts):
            self.passes.extend(texts)
            return FakeEmbedder.encode(self, texts), FakeEmbedder.encode_tokens(self, texts)

    embedder = OnePass()
    settings = Settings(corpus_dir=_corpus(tmp_path / "corpus", TWO_DRUG_DOCS), index_dir=tmp_path / "index",
                        model="fake")
    pipeline = _pipeline(settings, embedder)
    answer = pipeline.ask("What was the ketamine dose?")
    assert not answer.refused and "10 mg/h" in answer.citations[0].quote
    assert embedder.passes == ["What was the ketamine dose?"]
    assert "What was the ketamine dose?" not in embedder.separately  # only candidate sentences


def test_word_by_word_match_scores_the_share_of_question_words_a_sentence_covers(tiny):
    answerer = tiny.answerer()
    hit = tiny.search("maximum infusion rate", k=1)[0]
    spans = [(hit.char_start, hit.char_end)]
    full, = answerer.match(analysed(tiny, "maximum infusion rate"), [(hit.doc_id, spans)])
    none, = answerer.match(analysed(tiny, "bicycle tyre puncture"), [(hit.doc_id, spans)])
    assert full is not None and none is not None
    assert 0.0 <= none < full <= 1.0 and none == pytest.approx(0.0)
    no_content = analysed(tiny, "what was it?")
    assert answerer.match(no_content, [(hit.doc_id, spans)]) == [None]  # no content word: cosine instead


@pytest.mark.parametrize(("piece", "content"), [
    ("ketamine", True), ("##tam", True), ("40", True),
    ("what", False), ("the", False), ("?", False), ("[UNK]", False), ("[CLS]", False),
])
def test_content_pieces_exclude_question_words_punctuation_and_special_tokens(piece, content):
    assert is_content_piece(piece) is content


def test_a_question_naming_a_paper_is_matched_by_that_papers_title(tmp_path, fake_embedder):
    docs = {  # the same method sentence in two papers; only the titles say which study is which
        "rotterdam.txt": "Rotterdam cohort of infusions\n\nMethods\n\nThe dose was raised twice a day by one step.",
        "sydney.txt": "Sydney cohort of infusions\n\nMethods\n\nThe dose was raised twice a day by one step.",
    }
    settings = Settings(corpus_dir=_corpus(tmp_path / "corpus", docs), index_dir=tmp_path / "index", model="fake")
    pipeline = _pipeline(settings, fake_embedder)
    answerer = pipeline.answerer()
    assert "Rotterdam" in answerer.matcher.title_line("rotterdam")
    units = []
    for doc_id in ("rotterdam", "sydney"):
        text = pipeline.data.texts[doc_id].text
        start = text.index("The dose")
        units.append((doc_id, [(start, len(text))]))
    rotterdam, sydney = answerer.match(analysed(pipeline, "How was the dose raised in the Rotterdam cohort?"), units)
    assert rotterdam > sydney
    answer = pipeline.ask("How was the dose raised in the Rotterdam cohort?")
    assert not answer.refused and answer.citations[0].doc_id == "rotterdam"


def test_a_question_about_something_no_paper_mentions_is_refused_and_says_what(tmp_path, fake_embedder):
    settings = Settings(corpus_dir=_corpus(tmp_path / "corpus", TWO_DRUG_DOCS), index_dir=tmp_path / "index",
                        model="fake")
    pipeline = _pipeline(settings, fake_embedder)
    # everything but the drug matches the ketamine paper word for word
    answer = pipeline.ask("What was the gabapentin dose for four days?")
    assert answer.refused and answer.answer == REFUSAL and answer.missing_terms == ("gabapentin",)
    assert answer.passages and answer.confidence < 0.05
    kept = pipeline.ask("What was the ketamine dose for four days?")
    assert not kept.refused and kept.missing_terms == ()
    assert answer.to_dict()["missing_terms"] == ["gabapentin"]


def test_every_cited_passage_is_returned_even_below_k(tmp_path, fake_embedder):
    settings = Settings(corpus_dir=_corpus(tmp_path / "corpus", TWO_DRUG_DOCS), index_dir=tmp_path / "index",
                        model="fake")
    pipeline = _pipeline(settings, fake_embedder)
    answer = pipeline.ask("What was the ketamine dose and the lidocaine dose?", k=1)
    assert len({c.chunk_id for c in answer.citations}) == 2  # two documents, so one is below k = 1
    assert {c.chunk_id for c in answer.citations} <= {p.chunk_id for p in answer.passages}
    top = pipeline.search("What was the ketamine dose and the lidocaine dose?", k=1)
    assert answer.passages[0].chunk_id == top[0].chunk_id and len(answer.passages) == 2


@pytest.mark.parametrize(
    ("question", "sentence", "expected"),
    [
        ("How old was the patient?", "A 16-year-old female presented.", 1.0),
        ("What dose was used?", "Ketamine was infused at 10 mg/h.", 1.0),
        ("How long did relief last?", "Relief lasted 3 months.", 1.0),
        ("What share of patients responded?", "29 (62%) of 47 patients responded.", 1.0),
        ("How long did relief last?", "Relief was excellent.", 0.0),
        ("Why was ketamine used?", "Ketamine was infused at 10 mg/h.", 0.0),  # no quantity asked
    ],
)
def test_answer_type_matches_the_quantity_asked_for(question, sentence, expected):
    assert answer_type_match(question, sentence) == expected


def test_abbreviation_expansion_finds_sentences_that_use_the_short_form(tmp_path, fake_embedder):
    corpus = _corpus(tmp_path / "corpus", ABBREVIATION_DOCS)
    first = {}
    for expansion in (True, False):
        settings = Settings(corpus_dir=corpus, index_dir=tmp_path / f"index-{expansion}", model="fake",
                            query_expansion=expansion)
        question = "How were complex regional pain syndrome flares settled?"
        answer = _pipeline(settings, fake_embedder).ask(question)
        first[expansion] = answer.citations[0].quote if answer.citations else answer.answer
    assert first[True] == "In CRPS, flares were settled with ketamine."
    assert first[False] != first[True]


def test_an_answer_can_draw_on_two_documents(tmp_path, fake_embedder):
    settings = Settings(corpus_dir=_corpus(tmp_path / "corpus", TWO_DRUG_DOCS), index_dir=tmp_path / "index",
                        model="fake")
    pipeline = _pipeline(settings, fake_embedder)
    answer = pipeline.ask("What was the ketamine dose and the lidocaine dose?")
    assert not answer.refused
    assert {c.doc_id for c in answer.citations} == {"ketamine", "lidocaine"}
    assert_exact(pipeline, answer)


def test_ask_validates_like_search(tiny):
    from crps_qa.errors import NotFoundError, QueryError

    with pytest.raises(QueryError, match="empty"):
        tiny.ask("   ")
    with pytest.raises(QueryError, match="k must be"):
        tiny.ask("dose", k=0)
    with pytest.raises(NotFoundError, match="crps-qa documents"):
        tiny.ask("dose", doc_ids=["nope"])


def test_a_document_filter_limits_citations(tiny):
    answer = tiny.ask("What was the maximum infusion rate?", doc_ids=["skin"])
    assert all(c.doc_id == "skin" for c in answer.citations)
    assert all(h.doc_id == "skin" for h in answer.passages)


# ---------------------------------------------------------------------------- metrics


def test_answer_metrics_count_hits_and_refusals():
    questions = [
        Question("a", "rate?", ("40 mg/h",), "dosing", True),
        Question("b", "nausea?", ("most common",), "dosing", True),
        Question("c", "age?", ("16-year-old",), "skin", True),
        Question("u", "tires?", (), None, False),
        Question("v", "bread?", (), None, False),
    ]
    replies = {
        "rate?": ("The maximum infusion rate was 40 mg/h. [1]", False),  # hit (squash ignores the space)
        "nausea?": ("Pain scores fell. [1]", False),  # answered, but wrong
        "age?": (REFUSAL, True),  # answerable but refused
        "tires?": (REFUSAL, True),  # correctly refused
        "bread?": ("Ketamine was started at 10 mg/h. [1]", False),  # should have been refused
    }

    def ask(question: str) -> Answer:
        text, refused = replies[question]
        return Answer(question, text, refused, 0.5, (), ())

    report = evaluate_answers(ask, questions)
    assert report.metrics == {
        "answer_hit_rate": 1 / 3,
        "refusal_precision": 1 / 2,  # of 2 refusals, 1 was an unanswerable question
        "refusal_recall": 1 / 2,
        "answerable_refused": 1 / 3,
    }
    assert [m["id"] for m in report.misses] == ["b", "c"] and report.wrongly_answered == ["v"]


def test_answer_hit_compares_squashed_text():
    assert answer_hit("Forty-eight patients were included.", ["Forty- eight patients"])
    assert not answer_hit("Forty patients", ["Forty- eight patients"])


# ---------------------------------------------------------------------------- CLI


@pytest.fixture
def cli(tmp_path, tiny_corpus, monkeypatch):
    monkeypatch.setenv("CRPS_QA_MODEL", "fake")
    monkeypatch.setattr(embed, "load_embedder", lambda name, **_: FakeEmbedder(name))
    runner = CliRunner()
    index_dir = str(tmp_path / "index")
    assert runner.invoke(app, ["index", "--corpus", str(tiny_corpus), "--index", index_dir]).exit_code == 0

    def invoke(*args: str):
        return runner.invoke(app, [*args, "--index", index_dir])

    return invoke


ANSWER_KEYS = {"answer", "refused", "confidence", "citations", "passages", "missing_terms", "corrections", "query",
               "receipt", "verdict"}
CITATION_KEYS = {
    "marker", "doc_id", "title", "section", "page", "page_end", "char_start", "char_end", "quote", "chunk_id",
}


def test_ask_prints_the_answer_with_markers_and_numbered_sources(cli):
    result = cli("ask", "What was the maximum infusion rate?")
    assert result.exit_code == 0, result.output
    assert "The maximum infusion rate was 40 mg/h. [1]" in result.stdout
    assert "Sources:" in result.stdout and "[1] Ketamine dosing in CRPS" in result.stdout
    assert '"The maximum infusion rate was 40 mg/h."' in result.stdout and "Methods" in result.stdout


def test_ask_prints_a_refusal_with_related_reading(cli):
    result = cli("ask", "How do I fix a flat tire on a bicycle?", "--k", "1")
    assert result.exit_code == 0
    assert result.stdout.startswith(REFUSAL) and "Related reading:" in result.stdout
    assert "mentions" not in result.stdout  # common words: nothing specific is missing


def test_ask_says_which_specific_words_no_paper_mentions(cli):
    result = cli("ask", "What dose of gabapentin was given?")
    assert result.exit_code == 0
    assert result.stdout.startswith(REFUSAL) and "No indexed paper mentions: gabapentin." in result.stdout


def test_ask_json_is_one_answer_object(cli):
    result = cli("ask", "What was the maximum infusion rate?", "--k", "2", "--json")
    assert result.exit_code == 0
    record = json.loads(result.stdout)
    assert set(record) == ANSWER_KEYS and not record["refused"] and len(record["passages"]) == 2
    assert all(set(c) == CITATION_KEYS for c in record["citations"])


def test_batch_ask_writes_exactly_one_line_per_query(cli, tmp_path):
    queries = tmp_path / "q.jsonl"
    queries.write_text(
        '{"id": "a", "question": "maximum infusion rate"}\n\n{"id": 7, "question": "flat tire"}\n'
    )
    result = cli("ask", "--queries", str(queries), "--json")
    assert result.exit_code == 0
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["id"] for r in records] == ["a", 7]
    assert all(set(r) == {"id", *ANSWER_KEYS} for r in records)
    assert [r["refused"] for r in records] == [False, True] and records[1]["citations"] == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("ask", "   "), "The query is empty"),
        (("ask",), "Give either a question"),
        (("ask", "dose", "--k", "0"), "k must be between 1 and"),
        (("ask", "dose", "--mode", "fuzzy"), "Unknown mode"),
    ],
)
def test_bad_ask_input_is_one_clear_error(cli, args, message):
    result = cli(*args)
    assert result.exit_code == 2 and message in result.stderr and result.stdout == ""


def test_batch_ask_with_an_empty_question_prints_nothing(cli, tmp_path):
    queries = tmp_path / "q.jsonl"
    queries.write_text('{"id": "a", "question": "rate"}\n{"id": "b", "question": ""}\n')
    result = cli("ask", "--queries", str(queries), "--json")
    assert result.exit_code == 2 and "line 2 has an empty question" in result.stderr and result.stdout == ""


# ---------------------------------------------------------------------------- real corpus


@pytest.mark.model
def test_every_eval_answer_cites_exact_spans(real_pipeline):
    sets = [QUESTIONS.with_name(f"{name}.jsonl") for name in ("questions", "probe", "holdout", "holdout2", "typos")]
    for question in [q for path in sets for q in load_questions(path)]:
        answer = real_pipeline.ask(question.question, k=5)
        assert_exact(real_pipeline, answer)
        assert answer.refused == (answer.citations == ()), question.id
        assert answer.passages, question.id  # refusals still list related reading
        if answer.refused:
            assert answer.answer == REFUSAL


@pytest.mark.model
def test_off_topic_questions_are_refused(real_pipeline):
    for question in ("How do I reverse a list in Python?", "Who painted the Mona Lisa?"):
        answer = real_pipeline.ask(question)
        assert answer.refused and answer.citations == (), answer.answer


@pytest.mark.model
def test_esketamine_finds_the_s_ketamine_paper(real_pipeline):
    assert "S-ketamine" in real_pipeline.analyzer.expander.expand("esketamine dose")
    answer = real_pipeline.ask("What was the maximum esketamine dose on the ward?")
    assert not answer.refused
    erasmus = "erasmus-low-dose-s-ketamine-cohort"
    assert any(c.doc_id == erasmus and "14 mg/h" in c.quote for c in answer.citations), answer.answer


@pytest.mark.model
def test_a_comparison_question_draws_on_two_papers(real_pipeline):
    answer = real_pipeline.ask(
        "Were hallucinations reported with the low-dose S-ketamine in Rotterdam, compared to the "
        "Australian racemic ketamine series?"
    )
    assert {"erasmus-low-dose-s-ketamine-cohort", "mackay-low-dose-ketamine-retrospective"} <= {
        c.doc_id for c in answer.citations
    }


def test_citation_to_dict_is_the_json_contract():
    citation = Citation(1, "d", "T", "Methods", None, 3, 9, "quoted", "d#1")
    assert set(citation.to_dict()) == CITATION_KEYS


def test_a_table_row_is_read_with_its_caption_and_other_sentences_alone(tmp_path, fake_embedder):
    docs = {"cohort.txt": ("A cohort\n\nResults\n\nNausea was common on the ward.\n\n"
                           "Table 2 Side effects of S-ketamine treatment\n\nNausea 8 (27%)\n\nDizziness 14 (47%)\n")}
    settings = Settings(corpus_dir=_corpus(tmp_path / "corpus", docs), index_dir=tmp_path / "index", model="fake")
    pipeline = _pipeline(settings, fake_embedder)
    document = pipeline.data.texts["cohort"]

    def read(sentence: str) -> str:
        start = document.text.index(sentence)
        return with_caption(document.text, document.sections, start, start + len(sentence))

    assert read("Dizziness 14 (47%)") == "Table 2 Side effects of S-ketamine treatment: Dizziness 14 (47%)"
    assert read("Nausea was common on the ward.") == "Nausea was common on the ward."  # not in a table
    assert read("Table 2 Side effects of S-ketamine treatment") == "Table 2 Side effects of S-ketamine treatment"


def test_warm_encodes_every_sentence_so_a_question_then_encodes_only_itself(tiny, fake_embedder):
    sentences = {(p.doc_id, a, b) for row, p in enumerate(tiny.data.passages)
                 for a, b in tiny.retriever.matcher.sentence_spans(row)}
    assert tiny.warm() == len(sentences) == tiny.retriever.matcher.cached()
    before = fake_embedder.token_calls
    assert not tiny.ask("What was the maximum infusion rate?").refused
    assert fake_embedder.token_calls - before == 1  # the question; sentences and titles are cached
