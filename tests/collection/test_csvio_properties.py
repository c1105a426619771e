"""Properties of CSV import: no input crashes it (a bad file is only ever the typed, line-numbered
refusal, and changes nothing), and whatever the collection holds survives export → import.

The fuzzing of arbitrary bytes and text exercises the parser, which is the same whatever holds the
collection: it runs on SQLite only. What reaches a backend — quantities at the bound, any collection's
round trip — runs on both."""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.collection import CONDITIONS, FINISHES, CollectionError, InventoryKey
from app.collection.csvio import GENERIC_COLUMNS, apply_import, export_csv, plan_import
from app.collection.store import MAX_QUANTITY
from tests.collection.backends import address_for, open_address

from .conftest import CARDS, table

FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@contextmanager
def stocked_collection(backend: str = "sqlite") -> Iterator[tuple[Any, Path]]:
    with tempfile.TemporaryDirectory() as tmp, open_address(address_for(backend, Path(tmp)), Path(tmp)) as c:
        c.upsert_cards(CARDS)
        c.add(InventoryKey("xy12-1", "holo"), 2)
        yield c, Path(tmp)


def snapshot(c: Any) -> tuple[object, ...]:
    return (
        c.inventory(),
        table(c, "SELECT * FROM cards ORDER BY card_id"),
        table(c, "SELECT COUNT(*) AS n FROM actions")[0]["n"],
    )


def import_never_crashes(content: bytes, backend: str = "sqlite") -> None:
    """Plan, then apply: a refused plan changes nothing; a clean one applies or is a CollectionError."""
    with stocked_collection(backend) as (c, folder):
        (folder / "in.csv").write_bytes(content)
        before = snapshot(c)
        plan = plan_import(c, folder / "in.csv")
        if plan.errors:
            assert all(e.startswith(("line ", "…")) for e in plan.errors), plan.errors
            try:
                apply_import(c, plan)
            except CollectionError as error:
                assert "nothing changed" in str(error)
            else:
                raise AssertionError("a refused plan was applied")
            assert snapshot(c) == before
            return
        try:
            apply_import(c, plan)
        except CollectionError:
            assert snapshot(c) == before
        else:
            assert sum(r["quantity"] for r in c.inventory()) == 2 + sum(a["quantity"] for a in plan.additions)


@FUZZ
@given(st.binary(max_size=400))
def test_arbitrary_bytes_never_crash_an_import(content: bytes) -> None:
    import_never_crashes(content)


@FUZZ
@given(st.text(max_size=300))
def test_arbitrary_text_never_crashes_an_import(text: str) -> None:
    import_never_crashes(text.encode("utf-8"))


# Rows close to real ones — a known or new card, a quantity that may be huge or odd, cells that may
# hold quotes, commas or line breaks, a cell more or less — so the checks behind the header get reached.
noise = st.text(max_size=6)
odd = st.sampled_from(["", '"', '""', "'=1+1", "x,y", "\r", "\n", "nan", "inf", "-1", "1.5", "١٢"])


def mostly(values: list[str], other: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """A valid value three times in four, so that rows get past the first check often enough."""
    return st.one_of(st.sampled_from(values), st.sampled_from(values), st.sampled_from(values), other)


COLUMN_VALUES = {
    "card_id": mostly(["xy12-1", "sv3pt5-25", "zz-1"], noise),
    "name": mostly(["Pikachu"], noise),
    "printed_total": mostly(["", "165", "99999999999999999999"], odd),
    "finish": mostly(["", *FINISHES], noise),
    "condition": mostly(["", *CONDITIONS], noise),
    "quantity": mostly(["1", "1000000", "9223372036854775807", "99999999999999999999"], odd),
    "price_paid": mostly(["", "0.5", "1e400"], odd),
}
row = st.tuples(
    st.fixed_dictionaries({c: COLUMN_VALUES.get(c, mostly(["", "x"], noise | odd)) for c in GENERIC_COLUMNS}),
    st.sampled_from([-1, 0, 0, 0, 0, 0, 1]),  # cells missing or extra
)


@FUZZ
@given(st.lists(row, min_size=1, max_size=3), st.sampled_from(["\r\n", "\n", "\r"]), st.booleans())
def test_generic_looking_rows_never_crash_an_import(
    rows: list[tuple[dict[str, str], int]], newline: str, quote: bool
) -> None:
    def join(cells: dict[str, str], width: int) -> str:
        values = list(cells.values())
        values = values[:width] if width < 0 else values + ["extra"] * width
        return ",".join('"' + v.replace('"', '""') + '"' if quote else v for v in values)

    text = newline.join([",".join(GENERIC_COLUMNS), *(join(cells, width) for cells, width in rows)]) + newline
    import_never_crashes(text.encode("utf-8"))


@settings(FUZZ, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.one_of(st.integers(-(2**70), 2**70).map(str), st.text(max_size=25)))
def test_any_quantity_cell_is_refused_or_added_within_the_bound(backend: str, quantity: str) -> None:
    row = f"xy12-1,Venusaur-EX,xy12,Evolutions,EVO,1,108,Rare Holo EX,holo,NM,English,,{quantity},,,"
    content = f"{','.join(GENERIC_COLUMNS)}\r\n{row}\r\n".encode()
    import_never_crashes(content, backend)
    with stocked_collection(backend) as (c, folder):
        (folder / "in.csv").write_bytes(content)
        plan = plan_import(c, folder / "in.csv")
        if not plan.errors:
            apply_import(c, plan)
        assert all(0 < r["quantity"] <= MAX_QUANTITY and isinstance(r["quantity"], int) for r in c.inventory())


# ---------------------------------------------------------------------------- round trip

#: Characters a collection can hold: any but NUL (an import refuses it; the shop server cannot store it).
HOLDABLE = st.characters(codec="utf-8", exclude_characters="\x00")
field_text = st.text(HOLDABLE, max_size=12)
card = st.fixed_dictionaries(
    {
        "name": st.text(HOLDABLE, min_size=1, max_size=12),
        "set_id": field_text,
        "set_name": field_text,
        "number": field_text,
        "printed_total": st.none() | st.integers(1, 99_999),
        "rarity": field_text,
        "set_code": field_text,
    }
)
holding = st.tuples(
    st.integers(0, 4),  # which card
    st.sampled_from(FINISHES),
    st.sampled_from(CONDITIONS),
    st.text(HOLDABLE, min_size=1, max_size=8),  # language (empty reads as English)
    field_text,  # location
    st.integers(1, 1000),
    st.none() | st.floats(min_value=0, max_value=1e9, allow_nan=False, allow_infinity=False),
    st.none() | field_text,
)


def read_sorted(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    date = GENERIC_COLUMNS.index("date_added")
    return sorted([c for i, c in enumerate(r) if i != date] for r in rows)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(st.text(HOLDABLE, min_size=1, max_size=10), min_size=5, max_size=5, unique=True),
    st.lists(card, min_size=5, max_size=5),
    st.lists(holding, min_size=1, max_size=8),
)
def test_any_collection_survives_export_then_import(
    backend: str, card_ids: list[str], cards: list[dict[str, object]], holdings: list[tuple[object, ...]]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        with open_address(address_for(backend, folder / "a"), folder) as source:
            source.upsert_cards([{"card_id": i, **c} for i, c in zip(card_ids, cards, strict=True)])
            for index, finish, condition, language, location, quantity, price, notes in holdings:
                key = InventoryKey(card_ids[index], finish, condition, language, location)  # type: ignore[arg-type,call-overload]
                source.add(key, quantity, notes=notes, price_paid=price)
            export_csv(source, folder / "a.csv")
        with open_address(address_for(backend, folder / "b"), folder) as fresh:
            plan = plan_import(fresh, folder / "a.csv")
            assert plan.errors == []
            apply_import(fresh, plan)
            export_csv(fresh, folder / "b.csv")
        assert read_sorted(folder / "a.csv") == read_sorted(folder / "b.csv")
