"""Clinical evidence facets of one paper, read by rules from its cleaned text: study design,
number of patients, population, intervention, follow-up and year. Every facet carries the span
it was read from, so it is a citation: ``doc.text[f.char_start:f.char_end]`` states ``f.value``.

    facets = extract_facets(clean_doc, catalog_entry)       # Facets(design=Facet("case report", 155, 170), ...)
    facets.design.value, facets.n.value                      # "case report", 1

Only the paper's own study counts: sentences in Introduction, Background and Discussion describe
other studies' patients and are not read for n, population, intervention or follow-up. A catalog
entry may override any facet (``"facets": {"n": 12}``); the override is marked ``source="catalog"``.
"""

from __future__ import annotations

import re
from typing import Any

from crps_qa.ingest.patterns import NUM, UNIT, Rule, best_window, number, own_part
from crps_qa.types import FACET_NAMES, CleanDocument, Facet, Facets

DESIGNS = ("case report", "case series", "retrospective cohort", "prospective cohort",
           "randomized controlled trial", "systematic review", "meta-analysis", "narrative review")
REVIEWS = {"systematic review", "meta-analysis", "narrative review"}  # no patients of their own
FACETS_VERSION = 1  # bump when the rules change, so `crps-qa index --if-stale` re-reads them

_I = re.I | re.M
# a sentence in which the paper names what it itself is
SELF = (r"(?:\b(?:this|the present|the current|our)"
        r"|\bwe (?:conducted|performed|present|report|describe)(?: (?:a|an|this))?)")
# Most specific first: the first design found wins. Apart from a title ("...: A Case Report"), the
# paper must name itself ("this", "our", "we conducted a ..."): "a retrospective cohort study showed"
# in an introduction is someone else's study.
DESIGN_RULES: list[tuple[str, list[str]]] = [
    ("meta-analysis", [rf"{SELF}\s+(?:systematic review and )?meta-analys[ie]s"]),
    ("systematic review", [rf"{SELF}\s+systematic (?:literature )?review"]),
    ("randomized controlled trial", [rf"{SELF}\s+(?:[\w,-]+\s+){{0,4}}?randomi[sz]ed[\w ,-]{{0,40}}?trial"]),
    ("prospective cohort", [rf"{SELF}\s+prospective (?:cohort|observational )?(?:study)?"]),
    ("retrospective cohort", [rf"{SELF}\s+retrospective cohort(?: study)?"]),
    ("case series", [rf"{SELF}\s+(?:case series|retrospective (?:study|review|analysis|chart review))",
                     r"\bwe (?:report|present|describe) (?:a series of )?" + NUM + r" (?:consecutive )?cases\b"]),
    ("case report", [r"[:.]\s*A Case Report\b",
                     r"\bwe (?:describe|present|report) (?:a|the|one) (?:[\w-]+ ){0,2}case\b",
                     r"^Case Report\b:?"]),
    ("narrative review", [rf"{SELF}\s+(?:narrative )?review\b",
                          r"\b(?:multiple|several|many) (?:studies|trials)(?: and [\w ]{1,20}?)? support"]),
]

N_RULES: list[str] = [  # patients of the paper's own study; the earliest match counts
    rf"\b(?:case notes|records|charts) of ({NUM}) patients\b",
    rf"\ba total of ({NUM}) patients\b",
    rf"\b({NUM}) (?:consecutive )?patients (?:were|are) "
    r"(?:included|enrolled|recruited|randomi[sz]ed|analy[sz]ed|studied)",
]
ONE_PATIENT = r"\b(?:a|an) (?:\d{1,3}-year-old )?(?:(?:male|female) )?(?:man|woman|boy|girl|patient|service member)\b"

FOLLOW_UP_RULES: list[str] = [
    rf"\bfollow-up (?:period |time )?(?:of|was|lasted) (?:a (?:mean|median) of )?(?:approximately |about )?"
    rf"({NUM}(?:[–-]{NUM})? {UNIT})",
    rf"\b(?:approximately|about|~)\s*({NUM} {UNIT}) "
    r"(?:post-?infusion|post-?treatment|after (?:the )?(?:infusion|treatment))",
    rf"\bnow ({NUM} {UNIT}) (?:post|after)\b",
    rf"\bfollowed (?:up )?for ({NUM}(?:[–-]{NUM})? {UNIT})",
    rf"\b({NUM})-(week|month|year) follow-up\b",
]
MONTH = r"(?:January|February|March|April|May|June|July|August|September|October|November|December)"
PERIOD = rf"\b(?:between|from) (?:{MONTH} )?((?:19|20)\d\d) (?:and|to|until|through) (?:{MONTH} )?((?:19|20)\d\d)\b"
OWN_DATE = r"(?:©|\bCopyright|\bPublished(?: online)?:?|\bAccepted:?)\s*(?:\w+ )?((?:19|20)\d\d)\b"


def _design(doc: CleanDocument) -> Facet | None:
    """The first design (most specific first) that one of its patterns finds, at that pattern's
    first match (patterns are tried in order: a title beats a sentence)."""
    for design, patterns in DESIGN_RULES:
        for pattern in patterns:
            if match := re.search(pattern, doc.text, _I):
                return Facet(design, match.start(), match.end())
    return None


def _n(doc: CleanDocument, design: str | None) -> Facet | None:
    if design in REVIEWS:
        return None
    if design == "case report":
        match = next((m for m in re.finditer(ONE_PATIENT, doc.text, re.I) if own_part(doc, m.start())), None)
        return None if match is None else Facet(1, match.start(), match.end())
    hits = [m for p in N_RULES for m in re.finditer(p, doc.text, re.I) if own_part(doc, m.start())]
    for match in sorted(hits, key=lambda m: m.start()):
        if (count := number(match.group(1))) is not None:
            return Facet(count, match.start(), match.end())
    return None


def _follow_up(doc: CleanDocument, design: str | None) -> Facet | None:
    if design in REVIEWS:
        return None
    hits = [m for p in FOLLOW_UP_RULES for m in re.finditer(p, doc.text, re.I) if own_part(doc, m.start())]
    if not hits:
        return None
    match = min(hits, key=lambda m: m.start())
    value = f"{match[1]} {match[2]}s" if match.lastindex == 2 else match[1]  # "6-week follow-up" → "6 weeks"
    return Facet(" ".join(value.split()), match.start(), match.end())


def _year(doc: CleanDocument) -> Facet | None:
    """The period the paper's patients were treated in, else the paper's own date."""
    for pattern, own in ((PERIOD, True), (OWN_DATE, False)):  # a copyright line sits anywhere
        match = next((m for m in re.finditer(pattern, doc.text) if not own or own_part(doc, m.start())), None)
        if match:
            years = [int(y) for y in match.groups()]
            return Facet({"from": min(years), "to": max(years)}, match.start(), match.end())
    return None


def _rules(table: dict[str, list[tuple[str, Any]]]) -> dict[str, list[Rule]]:
    return {name: [(re.compile(p, re.I), read) for p, read in rules] for name, rules in table.items()}


def _roman(value: str) -> str:
    return {"1": "I", "2": "II"}.get(value, value.upper())


def _limb(part: str) -> str:
    lower = r"leg|foot|feet|ankle|knee|thigh|hip|toe|heel|shin|calf"
    return "lower limb" if re.fullmatch(rf"(?:lower )?(?:{lower})s?", part.lower()) else "upper limb"


_BODY = r"lower leg|leg|foot|feet|ankle|knee|thigh|hip|toe|heel|arm|forearm|hand|wrist|shoulder|finger|elbow"
POPULATION = _rules({
    "crps_type": [
        (r"\bType (I{1,2}|[12]) and Type (I{1,2}|[12]) CRPS\b", lambda m: f"types {_roman(m[1])} and {_roman(m[2])}"),
        # "31 of 33 patients were suffering from Type I CRPS ... two ... had Type II CRPS"
        (r"\bType (I|1) CRPS\b[^\n]{0,500}?\bType (II|2) CRPS\b", lambda m: "types I and II"),
        (r"\bCRPS,? type (I{1,2}|[12])\b", lambda m: f"type {_roman(m[1])}"),
        (r"\bType (I{1,2}|[12]) CRPS\b", lambda m: f"type {_roman(m[1])}"),
    ],
    "age": [
        (r"\b(\d{1,3})-year-old\b", lambda m: f"{m[1]} years"),
        (r"\baged (\d{1,3}) years or older\b", lambda m: f"≥ {m[1]} years"),
        (r"\baverage age [\w ]{0,30}? was (\d{1,3}(?:\.\d)?) years", lambda m: f"mean {m[1]} years"),
        (r"\bAge \(years\) (\d{1,3}) \(SD ± (\d+)\)", lambda m: f"mean {m[1]} ± {m[2]} years"),
    ],
    "sex": [
        (rf"\b({NUM}) men and ({NUM}) women\b", lambda m: f"{number(m[1])} men, {number(m[2])} women"),
        (r"\bFemale (\d+) \((\d+)%\)", lambda m: f"{m[2]}% female"),
        (r"\b(?:a|an) (?:\d{1,3}-year-old )?(male|female|man|woman|boy|girl)\b",
         lambda m: "female" if m[1].lower() in {"female", "woman", "girl"} else "male"),
        (r"\b(?:he|his|him)\b", lambda m: "male"),
        (r"\b(?:she|her)\b", lambda m: "female"),
    ],
    "limb": [
        (r"\b(?:affecting|involved|involving) (?:a |the )?(distal|proximal) (?:extremity|limb)",
         lambda m: f"{m[1].lower()} limb"),
        (rf"\b(?:(left|right) )?({_BODY})\b", lambda m: " ".join(filter(None, [m[1], _limb(m[2])])).lower()),
    ],
})

_DOSE_UNIT = r"(mg/kg/hr?|mg/hr?|µg/kg/min|mg/kg|mg)"
_AMOUNT = r"\d+(?:\.\d+)?(?:\s*[–-]\s*\d+(?:\.\d+)?)?"  # "14", "0.5", "20–25"
# one amount or a list of them before one unit: "10 mg/h", "15–20 to 20–25mg/hr", "50, 46, and 40mg/hr"
_DOSE = rf"((?:{_AMOUNT}(?:,\s*(?:and\s+)?|\s+and\s+|\s+to\s+))*{_AMOUNT}|one)\s*{_DOSE_UNIT}"


def _dose(text: str) -> str | None:
    """All doses of the most frequent unit stated in ``text``, as "low–high unit"; a single dose
    stated as a maximum ("Maximum dose was 14 mg/h") as "up to 14 mg/h"; None when every amount
    is a titration step ("with steps of 1–2 mg/h")."""
    by_unit: dict[str, list[float]] = {}
    ceilings: set[float] = set()
    for m in re.finditer(_DOSE, text):
        before = text[max(0, m.start() - 30) : m.start()]
        if re.search(r"(?:steps|increments) of\s*$", before):
            continue  # a titration step is not a dose
        numbers = [1.0 if x == "one" else float(x) for x in re.findall(r"\d+(?:\.\d+)?|one", m[1])]
        by_unit.setdefault(m[2], []).extend(numbers)
        if re.search(r"\b(?:maximum|max\.?|highest)(?: dose| rate)? (?:was|of)\s*$", before, re.I):
            ceilings.update(numbers)
    if not by_unit:
        return None
    unit, values = max(by_unit.items(), key=lambda kv: len(kv[1]))
    low, high = min(values), max(values)
    if low == high:
        return f"up to {high:g} {unit}" if high in ceilings else f"{high:g} {unit}"
    return f"{low:g}–{high:g} {unit}"


INTERVENTION = _rules({
    "drug": [(r"\b(?:S-ketamine|esketamine)\b", lambda m: "S-ketamine"), (r"\bketamine\b", lambda m: "ketamine")],
    "route": [(r"\b(intravenous(?:ly)?|IV|intranasal|oral|subcutaneous|intramuscular)\b",
               lambda m: "intravenous" if m[1].lower().startswith(("intravenous", "iv")) else m[1].lower())],
    "dose": [(_DOSE, lambda m: m[0])],  # the window's full range is read in _intervention
    "duration": [(rf"\b(?:duration (?:was|of)|for|from|over) ({NUM}(?:[–-]{NUM})? (?:days|hours))\b", lambda m: m[1]),
                 (r"\b(\d+)-day\b", lambda m: f"{m[1]} days")],
})


REVIEWED = {name: INTERVENTION[name] for name in ("drug", "route")}


def _window_facet(doc: CleanDocument, rules: dict[str, list[Rule]]) -> Facet | None:
    found = best_window(doc, rules)
    if found is None:
        return None
    value, start, end = found
    if "dose" in value:
        value["dose"] = _dose(doc.text[start:end])
        if value["dose"] is None:
            del value["dose"]
    return Facet({name: value[name] for name in rules if name in value}, start, end)


def _catalog(doc: CleanDocument, name: str, value: Any) -> Facet:
    """A catalog override, pointing at the value in the text when the text states it."""
    if name == "year" and isinstance(value, int):
        value = {"from": value, "to": value}
    needle = str(value) if not isinstance(value, dict) else ""
    at = doc.text.lower().find(needle.lower()) if needle else -1
    return Facet(value, at, at + len(needle), "catalog") if at >= 0 else Facet(value, 0, 0, "catalog")


def extract_facets(doc: CleanDocument, entry: dict[str, Any] | None = None) -> Facets:
    """Every facet of ``doc`` (None where the paper does not state it), then the catalog
    entry's ``"facets"`` overrides (a null override removes a facet)."""
    design = _design(doc)
    kind = design.value if design else None
    found: dict[str, Facet | None] = {
        "design": design,
        "n": _n(doc, kind),
        "population": None if kind in REVIEWS else _window_facet(doc, POPULATION),
        # a review's doses and durations are other studies': only which drug, and how given
        "intervention": _window_facet(doc, REVIEWED if kind in REVIEWS else INTERVENTION),
        "follow_up": _follow_up(doc, kind),
        "year": _year(doc),
    }
    for name, value in ((entry or {}).get("facets") or {}).items():
        if name not in FACET_NAMES:
            raise ValueError(f"Unknown facet {name!r} in the catalog entry of {doc.doc_id}; use one of {FACET_NAMES}.")
        found[name] = None if value is None else _catalog(doc, name, value)
    return Facets(**found)


ROUTES = {"intravenous": "IV", "intranasal": "intranasal", "oral": "oral", "subcutaneous": "SC",
          "intramuscular": "IM"}


def badge(facets: dict[str, Any] | None) -> str:
    """One line a reader takes in at a glance, from the JSON form of a paper's facets:
    "Case series · n = 33 · IV ketamine 15–50 mg/hr · 1996–2002" ("" when nothing is known)."""
    value = {name: (f or {}).get("value") for name, f in (facets or {}).items()}
    parts = []
    if value.get("design"):
        parts.append(str(value["design"])[:1].upper() + str(value["design"])[1:])
    if value.get("n") is not None:
        parts.append(f"n = {value['n']}")
    drug = value.get("intervention") or {}
    if drug.get("drug"):
        parts.append(" ".join(filter(None, [ROUTES.get(drug.get("route", ""), drug.get("route")), drug["drug"],
                                            drug.get("dose")])))
    year = value.get("year")
    if year:
        parts.append(str(year["from"]) if year["from"] == year["to"] else f"{year['from']}–{year['to']}")
    return " · ".join(parts)
