from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.collection import CONDITIONS, FINISHES, Collection, CollectionError, InventoryKey, ScanRecord
from app.prices.base import Quote
from app.prices.table import store_quotes
from app.prices.value import DEFAULT_CONDITION_FACTORS, describe, parse_factors, value_collection

from ..collection.conftest import CARDS


def usd(card_id: str, finish: str, price: float, date: str = "2026-12-01") -> Quote:
    return Quote(card_id, finish, "tcgplayer", "USD", date, price)


def test_each_row_is_valued_by_its_own_finish_and_condition(collection: Collection) -> None:
    collection.add(InventoryKey("xy12-1", "holo"), 2)
    collection.add(InventoryKey("xy12-1", "reverse holo", "LP"), 1)
    store_quotes(collection, [usd("xy12-1", "holo", 10.0), usd("xy12-1", "reverse holo", 3.0)])
    rows = {(r.row.finish, r.row.condition): r.value_cents for r in value_collection(collection).rows}
    assert rows == {("holo", "NM"): 2000, ("reverse holo", "LP"): 255}


def test_a_reverse_holo_without_its_own_price_is_unpriced_not_the_holos(collection: Collection) -> None:
    collection.add(InventoryKey("xy12-1", "reverse holo"), 3)
    store_quotes(collection, [usd("xy12-1", "holo", 10.0)])
    valuation = value_collection(collection)
    assert valuation.total_cents == 0 and [r.quantity for r in valuation.unpriced] == [3]
    text = describe(valuation, "Collection")
    assert "3 card(s) in 1 row(s) have no USD price" in text and "xy12-1 Venusaur-EX (reverse holo, NM)" in text


def test_unpriced_cards_are_counted_per_set_and_never_as_zero(collection: Collection) -> None:
    collection.add(InventoryKey("xy12-1"), 1)
    collection.add(InventoryKey("xy12-2"), 4)
    collection.add(InventoryKey("sv3pt5-25"), 2)
    store_quotes(collection, [usd("xy12-1", "normal", 1.25), usd("sv3pt5-25", "normal", 0.5)])
    result = value_collection(collection).as_dict()
    assert result["total"] == 2.25 and result["unpriced_cards"] == 4 and result["priced_cards"] == 3
    sets = {s["set_id"]: (s["value"], s["unpriced_cards"]) for s in result["sets"]}
    assert sets == {"sv3pt5": (1.0, 0), "xy12": (1.25, 4)}
    assert [r["card_id"] for r in result["unpriced"]] == ["xy12-2"]
    assert result["unpriced"][0]["value"] is None


def test_the_currency_chooses_the_prices(collection: Collection) -> None:
    collection.add(InventoryKey("xy12-1", "holo"), 1)
    store_quotes(
        collection, [usd("xy12-1", "holo", 10.0), Quote("xy12-1", "holo", "cardmarket", "EUR", "2026-12-02", 8.0)]
    )
    eur = value_collection(collection, "eur")
    assert eur.currency == "EUR" and eur.total_cents == 800 and eur.sources() == {"cardmarket": 1}


def test_condition_factors_can_be_set_and_are_checked(collection: Collection) -> None:
    collection.add(InventoryKey("xy12-1", condition="HP"), 1)
    store_quotes(collection, [usd("xy12-1", "normal", 10.0)])
    assert value_collection(collection).total_cents == 500
    assert value_collection(collection, factors=parse_factors("hp=0.25")).total_cents == 250
    assert parse_factors("")["LP"] == DEFAULT_CONDITION_FACTORS["LP"]
    for bad in ("XX=1", "LP=2", "LP=x", "LP"):
        with pytest.raises(CollectionError, match="condition factor"):
            parse_factors(bad)


def backdate(collection: Any, action_id: int, time: str, column: str = "time") -> None:
    collection.write_with(lambda tx: tx.run(f"UPDATE actions SET {column} = ? WHERE id = ?", (time, action_id)))


def test_value_on_a_past_day_counts_the_cards_held_and_prices_known_then(collection: Collection) -> None:
    collection.add(InventoryKey("xy12-1"), 2)  # action 1: a week ago
    collection.add(InventoryKey("xy12-1"), 5)  # action 2: today
    collection.add(InventoryKey("sv3pt5-25"), 1)  # action 3: a week ago, undone today
    collection.undo()
    backdate(collection, 1, "2026-11-24T10:00:00.000Z")
    backdate(collection, 3, "2026-11-24T11:00:00.000Z")
    backdate(collection, 3, "2026-12-04T09:00:00.000Z", column="undone_at")
    store_quotes(
        collection,
        [
            usd("xy12-1", "normal", 1.0, "2026-11-20"),
            usd("xy12-1", "normal", 3.0, "2026-12-01"),
            usd("sv3pt5-25", "normal", 0.5, "2026-11-20"),
        ],
    )
    then = value_collection(collection, on=dt.date(2026, 11, 25))
    assert {r.row.card_id: r.quantity for r in then.rows} == {"xy12-1": 2, "sv3pt5-25": 1}
    assert then.total_cents == 2 * 100 + 50
    now = value_collection(collection)
    assert {r.row.card_id: r.quantity for r in now.rows} == {"xy12-1": 7} and now.total_cents == 2100


def test_a_session_is_valued_by_the_cards_it_added(collection: Collection) -> None:
    collection.add(InventoryKey("xy12-1"), 10)
    session = collection.start_session("stack")
    for card in ("xy12-1", "sv3pt5-25", "sv3pt5-25"):
        collection.record_scan(ScanRecord("identified", card, 0.9, session_id=session), auto_add=InventoryKey(""))
    store_quotes(collection, [usd("xy12-1", "normal", 2.0), usd("sv3pt5-25", "normal", 0.75)])
    valuation = value_collection(collection, session_id=session)
    assert valuation.cards == 3 and valuation.total_cents == 200 + 150
    with pytest.raises(CollectionError, match="no session 99"):
        value_collection(collection, session_id=99)


holding = st.tuples(
    st.integers(0, len(CARDS) - 1),
    st.sampled_from(FINISHES),
    st.sampled_from(CONDITIONS),
    st.integers(1, 1_000_000),
)
priced = st.dictionaries(
    st.tuples(st.integers(0, len(CARDS) - 1), st.sampled_from(FINISHES)),
    st.floats(min_value=0, max_value=100_000, allow_nan=False, allow_infinity=False),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(holding, min_size=1, max_size=12), priced, st.sampled_from([None, "LP=0.9,DMG=0.05"]))
def test_the_total_is_the_sum_of_its_rows_under_any_finish_and_condition_mix(
    holdings: list[tuple[int, str, str, int]], prices: dict[tuple[int, str], float], factors: str | None
) -> None:
    """Arithmetic over the rows (the backends' reads are the same calls, tested on both above)."""
    with tempfile.TemporaryDirectory() as tmp, Collection(Path(tmp) / "c.db", synchronous="NORMAL") as c:
        c.upsert_cards(CARDS)
        for index, finish, condition, quantity in holdings:
            key = InventoryKey(CARDS[index]["card_id"], finish, condition)  # type: ignore[arg-type]
            current = {(r["card_id"], r["finish"], r["condition"]): r["quantity"] for r in c.inventory()}
            if current.get((key.card_id, finish, condition), 0) + quantity <= 1_000_000:
                c.add(key, quantity)
        store_quotes(c, [usd(CARDS[i]["card_id"], f, p) for (i, f), p in prices.items()])  # type: ignore[arg-type]
        chosen = parse_factors(factors or "")
        valuation = value_collection(c, factors=chosen)
        result = valuation.as_dict()
        expected = 0
        for r in c.inventory():
            price = prices.get(
                (next(i for i, card in enumerate(CARDS) if card["card_id"] == r["card_id"]), r["finish"])
            )
            if price is not None:
                expected += round(price * chosen[r["condition"]] * r["quantity"] * 100)
        assert valuation.total_cents == expected
        assert round(sum(row["value"] or 0 for row in result["rows"]) * 100) == expected
        assert sum(round(s["value"] * 100) for s in result["sets"]) == expected
        assert result["priced_cards"] + result["unpriced_cards"] == sum(r["quantity"] for r in c.inventory())
        assert all((row["value"] is None) == (row["unit_price"] is None) for row in result["rows"])
