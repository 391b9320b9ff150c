"""Pure functions that turn API JSON into HTML for ``st.markdown(..., unsafe_allow_html=True)``.

Every piece of text from the service goes through ``html.escape`` here, so a passage holding
``<script>`` shows as text. Newlines are flattened: a blank line would end Markdown's raw-HTML block
and let the rest of the passage be parsed as Markdown.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

CSS = """
<style>
.cq-card{border:1px solid rgba(128,128,128,.35);border-radius:.5rem;padding:.75rem 1rem;margin:.25rem 0 .5rem}
.cq-card-head{font-weight:600;margin-bottom:.15rem}
.cq-meta{font-size:.85rem;opacity:.75;margin-bottom:.4rem}
.cq-snippet{line-height:1.55}
.cq-context{opacity:.65}
mark.cq-cite{background:#ffe58a;color:inherit;padding:0 .1rem;border-radius:.2rem}
.cq-term{font-weight:700;text-decoration:underline dotted}
.cq-marker{font-size:.75em;font-weight:700;color:#1f6feb;margin:0 .1rem}
.cq-answer{font-size:1.1rem;line-height:1.6}
.cq-refused{border-left:4px solid #d29922;padding:.5rem 1rem}
.cq-corrected{font-size:.9rem;opacity:.8;margin-bottom:.5rem}
.cq-evidence{font-size:.8rem;display:inline-block;border-radius:.7rem;padding:0 .5rem;margin-bottom:.3rem;
  background:rgba(31,111,235,.12)}
.cq-uncertain{border-left:4px solid #8b949e;padding:.5rem 1rem}
.cq-verdict{font-size:.9rem;margin-bottom:.5rem}
.cq-verdict-answered{color:#1a7f37}.cq-verdict-uncertain{color:#9a6700}.cq-verdict-not_found{color:#cf222e}
</style>
"""

STOPWORDS = frozenset(
    """a about after all also an and any are as at be been before being but by can could did do does
    done during each for from had has have how if in into is it its more most no not of on or other
    over same should so such than that the their them then there these they this those through to
    under up used using was were what when where which while who whom why will with would you your
    patients patient study paper papers""".split()  # noqa: SIM905
)
MARKER = re.compile(r"\[(\d+)\]")


def escape(text: str) -> str:
    """HTML-escape and flatten newlines; ``$`` is escaped too so Markdown never starts LaTeX."""
    return html.escape(re.sub(r"\s+", " ", text)).replace("$", "&#36;")


def searched(answer: Mapping[str, Any]) -> str:
    """The question as the service searched it (typos corrected), or as asked."""
    return str(answer.get("query") or answer.get("question", ""))


# The three verdicts of an answer (issue 16), as the reader sees them, and what a source card says it is.
VERDICT_LABELS = {"answered": "Answered", "uncertain": "Uncertain", "not_found": "Not found"}
CARD_ROLES = {"answered": "quoted in the answer", "uncertain": "may answer it: check", "not_found": "related reading"}


def verdict(answer: Mapping[str, Any]) -> str:
    """``answered``, ``uncertain`` or ``not_found``; an older service without ``verdict`` is read
    from ``refused``."""
    found = str(answer.get("verdict") or "")
    return found if found in VERDICT_LABELS else ("not_found" if answer.get("refused") else "answered")


def verdict_html(answer: Mapping[str, Any]) -> str:
    """"Searched: <the question as searched> · Verdict: Uncertain" — shown with every answer."""
    v = verdict(answer)
    return (f'<div class="cq-verdict">Searched: <b>{escape(searched(answer))}</b> · '
            f'Verdict: <b class="cq-verdict-{v}">{VERDICT_LABELS[v]}</b></div>')


def uncertain_html(answer: Mapping[str, Any]) -> str:
    """The plain notice of an ``uncertain`` verdict: the service's own words, which claim nothing,
    and no answer block; the best sentences are highlighted in their passages below it."""
    message = answer.get("answer") or "These passages may answer the question; check the sources."
    return f'<div class="cq-uncertain">{escape(message)}</div>'


def corrections_html(answer: Mapping[str, Any]) -> str:
    """"Searched for: <question with the typos corrected>" with what was changed, or "" when nothing was."""
    corrections = answer.get("corrections") or []
    if not corrections:
        return ""
    changed = ", ".join(f"{c['word']} → {c['correction']}" for c in corrections)
    return (f'<div class="cq-corrected">Searched for: <b>{escape(searched(answer))}</b> '
            f"<span>({escape(changed)})</span></div>")


def query_terms(question: str) -> list[str]:
    """Content words of the question (3+ characters, not stop words), plural 's' dropped."""
    words = re.findall(r"[A-Za-z0-9][A-Za-z0-9\-]*", question.lower())
    terms = []
    for word in words:
        if len(word) < 3 or word in STOPWORDS:
            continue
        stem = word[:-1] if len(word) > 4 and word.endswith("s") and not word.endswith("ss") else word
        if stem not in terms:
            terms.append(stem)
    return terms


def cited_spans(hit: Mapping[str, Any], citations: Iterable[Mapping[str, Any]]) -> list[tuple[int, int, int]]:
    """``(start, end, marker)`` offsets into ``hit["text"]`` of each citation quoted from this passage.

    Both live in the same document's coordinates, so the quote starts at
    ``citation.char_start - hit.char_start`` (e.g. 10450 - 10412 = 38). A citation from an
    overlapping passage is clipped to this one; if the arithmetic disagrees with the text, the quote
    is searched for instead.
    """
    text = hit.get("text", "")
    spans = []
    for c in citations:
        if c.get("doc_id") != hit.get("doc_id"):
            continue
        start = c["char_start"] - hit["char_start"]
        end = c["char_end"] - hit["char_start"]
        if end <= 0 or start >= len(text):
            continue
        quote = c.get("quote") or ""
        if quote and text[max(start, 0):end] not in quote and quote not in text[max(start, 0):end]:
            found = text.find(quote)
            if found < 0:
                continue
            start, end = found, found + len(quote)
        spans.append((max(start, 0), min(end, len(text)), int(c.get("marker", 0))))
    return sorted(spans)


def highlight(text: str, spans: Sequence[tuple[int, int, int]] = (), terms: Sequence[str] = ()) -> str:
    """Escaped ``text`` with cited spans in ``<mark class="cq-cite">`` and query terms in bold."""
    cited = [False] * len(text)
    for start, end, _ in spans:
        for i in range(max(start, 0), min(end, len(text))):
            cited[i] = True
    term = [False] * len(text)
    if terms:
        pattern = re.compile(r"\b(?:" + "|".join(re.escape(t) for t in terms) + r")\w*", re.IGNORECASE)
        for match in pattern.finditer(text):
            for i in range(match.start(), match.end()):
                term[i] = True
    return "".join(
        f'<mark class="cq-cite">{_terms(text, term, a, b)}</mark>' if flag else _terms(text, term, a, b)
        for a, b, flag in _runs(cited, 0, len(text))
    )


def _runs(flags: Sequence[bool], start: int, end: int) -> list[tuple[int, int, bool]]:
    """Maximal ``(a, b, flag)`` stretches of equal flags within ``flags[start:end]``."""
    runs, a = [], start
    for b in range(start + 1, end + 1):
        if b == end or flags[b] != flags[a]:
            runs.append((a, b, flags[a]))
            a = b
    return runs


def _terms(text: str, term: Sequence[bool], start: int, end: int) -> str:
    return "".join(
        f'<span class="cq-term">{escape(text[a:b])}</span>' if flag else escape(text[a:b])
        for a, b, flag in _runs(term, start, end)
    )


def answer_html(answer: Mapping[str, Any]) -> str:
    """The answer text, escaped, with each ``[n]`` shown as a marker whose tooltip names its source."""
    by_marker = {int(c["marker"]): c for c in answer.get("citations", [])}

    def marker(match: re.Match[str]) -> str:
        c = by_marker.get(int(match.group(1)))
        tip = escape(f"{c.get('title', '')} — {location(c)}") if c else ""
        return f'<sup class="cq-marker" title="{tip}">[{match.group(1)}]</sup>'

    body = MARKER.sub(marker, escape(answer.get("answer", "")))
    return f'<div class="cq-answer">{body}</div>'


def refusal_html(answer: Mapping[str, Any]) -> str:
    """The service's fixed refusal message, headed "Not found in the corpus" unless it says so itself,
    and the question's words that no paper uses, when the service names them."""
    message = answer.get("answer") or ""
    missing = [str(w) for w in answer.get("missing_terms") or []]
    why = (f'<br><span class="cq-missing">No indexed paper mentions: {escape(", ".join(missing))}. '
           "If the papers may call it something else, ask again with that word.</span>" if missing else "")
    if "not found in the corpus" in message.lower():
        return f'<div class="cq-refused"><b>{escape(message)}</b>{why}</div>'
    return f'<div class="cq-refused"><b>Not found in the corpus.</b> {escape(message)}{why}</div>'


def location(item: Mapping[str, Any]) -> str:
    """``Results · p. 3`` (``pp. 3–4`` for a passage over a page break): section and page, whichever are known."""
    page, end = item.get("page"), item.get("page_end")
    parts = [item.get("section"), (f"pp. {page}–{end}" if end else f"p. {page}") if page else None]
    return " · ".join(p for p in parts if p) or "no section"


def card_html(
    hit: Mapping[str, Any], *, citations: Sequence[Mapping[str, Any]] = (), terms: Sequence[str] = (),
    evidence: str = "",
    verdict: str = "answered",
) -> str:
    """One source card: markers, title, the paper's evidence badge (when known), section, page, rank,
    what the passage is to this answer (quoted / may answer it / related reading, from the answer's
    ``verdict``) and the highlighted passage. The fused score means nothing to a reader; it stays in
    the JSON."""
    spans = cited_spans(hit, citations)
    markers = "".join(f'<span class="cq-marker">[{m}]</span>' for m in sorted({m for _, _, m in spans}))
    ranked = hit.get("score") is not None and hit.get("rank")
    rank = f"rank {hit['rank']}" if ranked else "cited passage outside the top k"
    role = CARD_ROLES.get(verdict, "") if spans or verdict == "not_found" else "also retrieved"
    meta = " · ".join(part for part in (location(hit), rank, role, str(hit.get("doc_id", ""))) if part)
    return (
        f'<div class="cq-card">'
        f'<div class="cq-card-head">{markers} {escape(str(hit.get("title") or hit.get("doc_id", "")))}</div>'
        + (f'<div class="cq-evidence">{escape(evidence)}</div>' if evidence else "")
        + f'<div class="cq-meta">{escape(meta)}</div>'
        f'<div class="cq-snippet">{highlight(hit.get("text", ""), spans, terms)}</div>'
        f"</div>"
    )


def order_sources(answer: Mapping[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Split the passages into (cited, in marker order) and (the rest, in rank order).

    A citation's source is the passage it was quoted from (its ``chunk_id``); another passage that
    holds the same sentence only because passages overlap goes with the rest, so the sources list
    each quote once. A citation whose sentence lies in none of the returned passages gets a card of
    its own, made from the citation (its quote is the text, no score), so every marker has a source.
    """
    passages = list(answer.get("passages", []))
    citations = answer.get("citations", [])
    passages += [
        {**{key: c.get(key) for key in ("doc_id", "title", "section", "page", "char_start", "char_end",
                                        "chunk_id")}, "text": c.get("quote", ""), "score": None}
        for c in citations
        if not any(cited_spans(hit, [c]) for hit in passages)
    ]

    # each citation's own passage, else (an answer from an older service) the first one holding it
    owner = {}
    for c in citations:
        own = [h for h in passages if h.get("chunk_id") == c.get("chunk_id") and cited_spans(h, [c])]
        holders = own or [h for h in passages if cited_spans(h, [c])]
        if holders:
            owner.setdefault(id(holders[0]), []).append(int(c.get("marker", 0)))

    def first_marker(hit: Mapping[str, Any]) -> int | None:
        markers = owner.get(id(hit))
        return min(markers) if markers else None

    cited = sorted((h for h in passages if first_marker(h) is not None), key=lambda h: first_marker(h) or 0)
    rest = [h for h in passages if first_marker(h) is None]
    return cited, rest


def context_html(body: Mapping[str, Any], *, citations: Sequence[Mapping[str, Any]] = (),
                 terms: Sequence[str] = ()) -> str:
    """A passage between its neighbours (dimmed), from ``GET /passages/{chunk_id}``'s
    ``{"passage", "previous", "next"}``. Chunks overlap, so the shared sentences are cut from the
    neighbours rather than shown twice."""
    passage = body.get("passage") or body
    before = _trim(body.get("previous"), passage, "previous")
    after = _trim(body.get("next"), passage, "next")
    middle = highlight(passage.get("text", ""), cited_spans(passage, citations), terms)
    parts = [f'<span class="cq-context">{escape(before.strip())} </span>' if before.strip() else "", middle,
             f'<span class="cq-context"> {escape(after.strip())}</span>' if after.strip() else ""]
    return f'<div class="cq-snippet">{"".join(parts)}</div>'


def _trim(neighbour: Mapping[str, Any] | None, passage: Mapping[str, Any], side: str) -> str:
    """Text of ``neighbour`` minus the characters it shares with ``passage`` (same document offsets)."""
    if not isinstance(neighbour, Mapping):
        return ""
    text = neighbour.get("text", "")
    if side == "previous":
        overlap = neighbour.get("char_end", 0) - passage.get("char_start", 0)
        return text[: len(text) - overlap] if overlap > 0 else text
    overlap = passage.get("char_end", 0) - neighbour.get("char_start", 0)
    return text[overlap:] if overlap > 0 else text


def citation_with_receipt(answer: Mapping[str, Any]) -> str:
    """Plain text to paste into a note: the answer, its numbered sources (title, section, page,
    character span, quote) and the receipt that ``crps-qa replay`` checks later."""
    lines = [str(answer.get("answer", "")), ""]
    for c in answer.get("citations", []):
        where = " · ".join(p for p in (location(c), f"chars {c.get('char_start')}–{c.get('char_end')}") if p)
        lines.append(f"[{c.get('marker')}] {c.get('title')} ({c.get('doc_id')}), {where}: “{c.get('quote', '')}”")
    receipt = answer.get("receipt")
    if receipt:
        lines += ["", "Receipt (check it with: crps-qa replay RECEIPT.json):",
                  json.dumps(receipt, indent=2, ensure_ascii=False)]
    return "\n".join(lines)
