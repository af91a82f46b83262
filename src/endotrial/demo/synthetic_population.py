"""A synthetic screening pool for any protocol, drawn from its data items' declared ranges.

Each candidate's items are drawn inside their declared range (a number between its minimum
and maximum, a category among its values, a date shortly before screening, a yes/no mostly
no). Most candidates are then made to meet the criteria the way a referral does: the items
a failing criterion reads are drawn again, screened again by the protocol's own eligibility
engine, up to a bound; the rest stay as drawn, so the screening log holds realistic refusals.
SYNTHETIC: no value says anything about a real population.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import sqlglot
from sqlglot import exp

from endotrial.demo.population import FIRST_SCREENING, SCREENING_SPAN_DAYS
from endotrial.demo.profile import Candidate
from endotrial.eligibility.engine import screen_candidate
from endotrial.protocol import Protocol
from endotrial.protocol.expressions import DIALECT
from endotrial.protocol.models import DataItem, ItemType

#: Share of candidates a referral sends who are meant to meet the criteria.
P_REFERRED_ELIGIBLE = 0.7
#: Draws of a candidate's failing items before she is screened as she stands.
MAX_REDRAWS = 40
P_YES = 0.1
#: An end of a number's range a draw again may keep to.
EDGE_SHARE = 0.05
#: A date drawn again is blank this often (no earlier trial, no previous treatment).
P_BLANK_DATE = 0.3
#: Upper end of an unbounded number: its minimum (or 0) plus this.
UNBOUNDED_SPAN = 100.0


def synthetic_pool(protocol: Protocol, rng: np.random.Generator, size: int) -> list[Candidate]:
    """`size` candidates, screened in date order over the demo's screening span."""
    offsets = np.sort(rng.integers(0, SCREENING_SPAN_DAYS, size))
    reads = _criterion_items(protocol)
    return [
        _candidate(
            protocol, reads, rng, f"SCR-{i + 1:04d}", FIRST_SCREENING + dt.timedelta(days=int(d))
        )
        for i, d in enumerate(offsets)
    ]


def _candidate(
    protocol: Protocol,
    reads: dict[str, tuple[str, ...]],
    rng: np.random.Generator,
    ref: str,
    on: dt.date,
) -> Candidate:
    drawn = _drawn_items(protocol)
    items: dict[str, object] = {}
    for _ in range(MAX_REDRAWS):  # a draw the screening cannot read (an impossible BMI): again
        items = {"screening_date": on, **{i.name: draw_item(i, rng, on) for i in drawn}}
        if not screen_candidate(protocol, items).errors:
            break
    if rng.random() < P_REFERRED_ELIGIBLE:
        _meet_criteria(protocol, reads, rng, items, on)
    return Candidate(ref, items, prefers_cells=bool(rng.random() < 0.55))


def _drawn_items(protocol: Protocol) -> list[DataItem]:
    """The items a candidate is given: not an identifying one (sealed, never needed: what is
    derived from it is given instead), not one derived from items she is given (her BMI from
    her weight and height is computed, so it cannot disagree with them)."""
    known = {item.name: item for item in protocol.data_items}

    def computed(item: DataItem) -> bool:
        if item.derived is None:
            return False
        inputs = [known.get(name) for name in _columns(item.derived)]
        return all(i is not None and not i.identifying for i in inputs)

    return [
        item
        for item in protocol.data_items
        if not item.identifying and item.name != "screening_date" and not computed(item)
    ]


def draw_item(
    item: DataItem, rng: np.random.Generator, on: dt.date, *, again: bool = False
) -> object:
    """A value inside the item's declared range, of its type (drawn `again` for a criterion
    she fails: a yes/no either way, a date perhaps blank or longer ago)."""
    if item.type == ItemType.category:
        return str(rng.choice(item.values or []))
    if item.type == ItemType.boolean:
        return bool(rng.random() < (0.5 if again else P_YES))
    if item.type == ItemType.date:
        if again and rng.random() < P_BLANK_DATE:
            return None
        return on - dt.timedelta(days=int(rng.integers(5, 400 if again else 60)))
    low = item.minimum if item.minimum is not None else 0.0
    high = item.maximum if item.maximum is not None else low + UNBOUNDED_SPAN
    if again:  # a criterion often asks for one end of a wide range (< 6 months of 0-600)
        zone = int(rng.integers(0, 3))
        edge = (high - low) * EDGE_SHARE
        low, high = ((low, high), (low, low + edge), (high - edge, high))[zone]
    if item.type == ItemType.integer:
        return int(rng.integers(int(np.ceil(low)), int(np.floor(high)) + 1))
    return round(float(rng.uniform(low, high)), 1)


def _meet_criteria(
    protocol: Protocol,
    reads: dict[str, tuple[str, ...]],
    rng: np.random.Generator,
    items: dict[str, object],
    on: dt.date,
) -> None:
    """Draw again the items of each criterion she fails, until she meets them all (or the
    bound is reached: she is screened as she stands)."""
    known = {item.name: item for item in protocol.data_items}
    for _ in range(MAX_REDRAWS):
        result = screen_candidate(protocol, items)
        if result.is_eligible:
            return
        stale = {name for cid, _text in result.failed for name in reads.get(cid, ())}
        stale |= {name for cid, _missing in result.unknown for name in reads.get(cid, ())}
        redrawable = [n for n in sorted(stale) if n in items and n != "screening_date"]
        if not redrawable:
            return
        before = dict(items)
        for name in redrawable:
            items[name] = draw_item(known[name], rng, on, again=True)
        if screen_candidate(protocol, items).errors:  # unreadable together: keep the last
            items.clear()
            items.update(before)


def _criterion_items(protocol: Protocol) -> dict[str, tuple[str, ...]]:
    """Criterion id → the given items it reads (a derived item: the items it is derived from).
    The protocol loaded, so its expressions parse."""
    known = {item.name: item for item in protocol.data_items}

    def expand(name: str, seen: frozenset[str]) -> set[str]:
        item = known.get(name)
        if item is None or item.derived is None or name in seen:
            return {name}
        return {n for i in _columns(item.derived) for n in expand(i, seen | {name})} | {name}

    return {
        criterion.id: tuple(
            sorted({n for u in _columns(criterion.expression) for n in expand(u, frozenset())})
        )
        for criterion in protocol.criteria
        if criterion.expression is not None
    }


def _columns(expression: str) -> set[str]:
    return {
        column.name
        for column in sqlglot.parse_one(expression, dialect=DIALECT).find_all(exp.Column)
    }
