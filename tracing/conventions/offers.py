"""Candidate values for StepData fields, collected from every mapper before any is chosen."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from .precedence import rank


@dataclass(slots=True)  # never mutated; not frozen because frozen construction costs 4x (~60 us a span)
class Offer:
    field: str
    source: str
    value: Any
    convention: str
    seq: int  # insertion order: breaks ties between equally ranked sources


_CONTAINERS = (str, list, dict, tuple)


class Offers:
    def __init__(self) -> None:
        self._by_field: dict[str, list[Offer]] = {}
        self._seq = 0

    def add(self, convention: str, field: str, source: str, value: Any) -> None:
        # 0 and False are real values (a reported zero); None, "", [] and {} carry nothing.
        if value is None or (isinstance(value, _CONTAINERS) and not value):
            return
        self._seq += 1
        self._by_field.setdefault(field, []).append(Offer(field, source, value, convention, self._seq))

    def discard(self, convention: str) -> None:
        """Forget every offer of one convention (its mapper failed half-way)."""
        for field, offers in self._by_field.items():
            self._by_field[field] = [o for o in offers if o.convention != convention]

    def sink(self, convention: str) -> "Sink":
        return Sink(self, convention)

    def ranked(self, field: str, accept: Callable[[Offer], bool] | None = None) -> list[Offer]:
        offers = [o for o in self._by_field.get(field, ()) if accept is None or accept(o)]
        if len(offers) < 2:  # the usual case: nothing to rank
            return offers
        return sorted(offers, key=lambda o: (rank(field, o.source), o.seq))

    def best(self, field: str, accept: Callable[[Offer], bool] | None = None) -> Offer | None:
        ranked = self.ranked(field, accept)
        return ranked[0] if ranked else None

    def value(self, field: str, default: Any = None, accept: Callable[[Offer], bool] | None = None) -> Any:
        if accept is None:  # the usual call: no filter, and most fields have one offer or none
            offers = self._by_field.get(field)
            if not offers:
                return default
            if len(offers) == 1:
                return offers[0].value
        offer = self.best(field, accept)
        return default if offer is None else offer.value

    def has(self, field: str) -> bool:
        return bool(self._by_field.get(field))

    def conventions(self) -> list[str]:
        seen: list[str] = []
        for offers in self._by_field.values():
            for o in offers:
                if o.convention not in seen:
                    seen.append(o.convention)
        return seen


class Sink:
    """What one mapper writes to: offers tagged with its convention name."""

    def __init__(self, offers: Offers, convention: str):
        self._offers, self.convention = offers, convention

    def offer(self, field: str, source: str, value: Any) -> None:
        if value is not None:  # most offers are of attributes the span does not carry
            self._offers.add(self.convention, field, source, value)
