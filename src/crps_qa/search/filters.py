"""Evidence filters: keep only papers of a design, size, period or drug, by their facets
(:mod:`crps_qa.ingest.facets`). A filter resolves to document ids, which search and ask already
restrict to, so ranking never sees the filter itself.

    wanted = EvidenceFilter(design=("case report",), drug="ketamine")
    doc_ids = wanted.resolve(pipeline.data.documents)       # ("amputation-...", "ketamine-skin-...")
    pipeline.ask(question, doc_ids=doc_ids)

A paper that does not state a facet does not pass a filter on it (a review has no n, so
``min_n=10`` leaves it out).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from crps_qa.errors import NotFoundError, QueryError
from crps_qa.ingest.facets import DESIGNS
from crps_qa.types import DocumentInfo

ALIASES = {"esketamine": "s-ketamine", "rct": "randomized controlled trial"}


@dataclass(frozen=True)
class EvidenceFilter:
    design: tuple[str, ...] = ()  # any of these designs
    min_n: int | None = None  # at least this many patients
    year_from: int | None = None  # the paper's period overlaps [year_from, year_to]
    year_to: int | None = None
    drug: str | None = None  # the intervention's drug contains this ("ketamine" also finds S-ketamine)

    @classmethod
    def of(cls, *, design: Collection[str] | str | None = None, min_n: int | None = None,
           year_from: int | None = None, year_to: int | None = None, drug: str | None = None) -> EvidenceFilter:
        """A checked filter from front-door parameters, or QueryError saying what to change."""
        designs = (design,) if isinstance(design, str) else tuple(design or ())
        designs = tuple(ALIASES.get(d.strip().lower(), d.strip().lower()) for d in designs if d.strip())
        unknown = [d for d in designs if d not in DESIGNS]
        if unknown:
            raise QueryError(f"Unknown design {', '.join(map(repr, unknown))}; use one of: {', '.join(DESIGNS)}.")
        if min_n is not None and min_n < 1:
            raise QueryError(f"min_n must be 1 or more, got {min_n}.")
        drug = ALIASES.get(drug.strip().lower(), drug.strip().lower()) if drug and drug.strip() else None
        return cls(designs, min_n, year_from, year_to, drug)

    def __bool__(self) -> bool:
        return bool(self.design) or any(v is not None for v in (self.min_n, self.year_from, self.year_to, self.drug))

    def to_dict(self) -> dict[str, Any]:
        return {"design": list(self.design), "min_n": self.min_n, "year_from": self.year_from,
                "year_to": self.year_to, "drug": self.drug}

    def matches(self, info: DocumentInfo) -> bool:
        f = info.facets
        if self.design and (f.design is None or f.design.value not in self.design):
            return False
        if self.min_n is not None and (f.n is None or f.n.value < self.min_n):
            return False
        if self.year_from is not None or self.year_to is not None:
            if f.year is None:
                return False
            if self.year_from is not None and f.year.value["to"] < self.year_from:
                return False
            if self.year_to is not None and f.year.value["from"] > self.year_to:
                return False
        if self.drug is not None:
            drug = (f.intervention.value.get("drug") if f.intervention else None) or ""
            if self.drug not in drug.lower():
                return False
        return True

    def resolve(self, documents: Mapping[str, DocumentInfo], doc_ids: Collection[str] = ()) -> tuple[str, ...]:
        """The ids of ``documents`` (of ``doc_ids`` when given) that pass; ``doc_ids`` unchanged when
        the filter is empty. NotFoundError when no paper passes: searching everything instead would
        silently ignore the filter."""
        if not self:
            return tuple(doc_ids)
        pool = list(doc_ids) or list(documents)
        kept = tuple(d for d in pool if d in documents and self.matches(documents[d]))
        if not kept:
            asked = ", ".join(f"{k}={v}" for k, v in self.to_dict().items() if v not in (None, []))
            swap = " (year_from is after year_to: swap them)" if (self.year_from or 0) > (self.year_to or 9999) else ""
            raise NotFoundError(f"No indexed paper matches {asked}{swap}. Loosen the filters; "
                                "`crps-qa documents` lists each paper's design, n, year and drug.")
        return kept
