from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.catalog.database import SHIPPED_CATALOG, CatalogDatabase
from app.match.reprints import (
    NAME_AND_ARTIST,
    RECORDED,
    partner_coverage,
    printing_for_number,
    printings_outside,
    same_art_printings,
)
from tests.conftest import SHARED

METADATA = SHARED / "data" / "pokemontcg-metadata"


@pytest.fixture(scope="module")
def catalog() -> CatalogDatabase:
    return CatalogDatabase.open(SHIPPED_CATALOG)


def cards(set_id: str) -> list[dict[str, object]]:
    path = METADATA / "cards" / "en" / f"{set_id}.json"
    if not path.is_file():
        pytest.fail(f"shared metadata missing at {METADATA}")
    return json.loads(path.read_text(encoding="utf-8"))


def test_evolutions_charizard_shares_its_art_with_base_sets_and_its_reprints(catalog: CatalogDatabase) -> None:
    printings = {p.card_id: p.basis for p in same_art_printings("xy12-11", catalog)}
    assert {card_id for card_id, basis in printings.items() if basis == RECORDED} == {
        "base1-4",
        "base4-4",
        "base6-3",
        "cel25c-4_A",
    }
    assert "xy12-11" not in printings


def test_recorded_printings_come_before_name_and_artist_ones(catalog: CatalogDatabase) -> None:
    bases = [p.basis for p in same_art_printings("base1-4", catalog)]
    assert bases == sorted(bases, key=lambda b: b != RECORDED) and NAME_AND_ARTIST in bases


def test_evolutions_cards_with_a_base_set_partner_match_the_metadata(catalog: CatalogDatabase) -> None:
    base = {(c["name"], c["artist"]) for c in cards("base1") if c.get("artist")}
    evolutions = cards("xy12")
    expected = sum(1 for c in evolutions if (c["name"], c.get("artist")) in base)
    assert partner_coverage("xy12", "base1", catalog) == (expected, len(evolutions))
    assert expected >= 60  # most of the set reprints Base Set art


def test_the_classic_collection_pairs_with_the_original_number_only(catalog: CatalogDatabase) -> None:
    printings = {p.card_id: p.basis for p in same_art_printings("cel25c-15_A2", catalog)}
    assert printings["base5-15"] == RECORDED
    assert printings["base5-71"] == NAME_AND_ARTIST


def test_printings_are_in_other_sets_only(catalog: CatalogDatabase) -> None:
    for card_id in ("xy12-11", "base5-15", "sv3pt5-25"):
        own_set = card_id.rsplit("-", 1)[0]
        assert all(p.set_id != own_set for p in same_art_printings(card_id, catalog))


def test_a_card_without_an_artist_or_unknown_has_no_printings(catalog: CatalogDatabase) -> None:
    assert catalog.card("xy12-91") is not None and catalog.card("xy12-91").artist is None  # type: ignore[union-attr]
    assert same_art_printings("xy12-91", catalog) == []
    assert same_art_printings("nope-1", catalog) == []


def test_a_new_card_of_evolutions_has_no_base_set_partner(catalog: CatalogDatabase) -> None:
    assert not any(p.set_id == "base1" for p in same_art_printings("xy12-12", catalog))  # Charizard-EX


def test_the_default_catalogue_is_used_without_an_argument(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from app.catalog import database

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    database.default_catalog.cache_clear()
    try:
        assert any(p.card_id == "base1-4" for p in same_art_printings("xy12-11"))
    finally:
        database.default_catalog.cache_clear()


def test_printings_outside_the_installed_sets_are_the_ones_the_picture_cannot_rule_out(
    catalog: CatalogDatabase,
) -> None:
    installed = {"sv3pt5", "sv5", "xy12"}
    outside = printings_outside("xy12-11", installed, catalog, recorded_only=True)
    assert {p.card_id for p in outside} == {"base1-4", "base4-4", "base6-3", "cel25c-4_A"}
    assert printings_outside("xy12-11", {"xy12", "base1", "base4", "base6", "cel25c"}, catalog, True) == []
    # Evolutions' Charizard-EX carries Flashfire's art: found by name and artist, not recorded.
    assert [(p.card_id, p.basis) for p in printings_outside("xy12-12", installed, catalog)] == [
        ("xy2-12", NAME_AND_ARTIST)
    ]
    assert printings_outside("xy12-12", installed, catalog, recorded_only=True) == []


@pytest.mark.parametrize(
    ("number", "expected"), [("4/102", "base1-4"), ("11/108", "xy12-11"), ("3/110", "base6-3"), ("4", None)]
)
def test_the_collector_number_names_one_printing_of_the_art(
    catalog: CatalogDatabase, number: str, expected: str | None
) -> None:
    assert printing_for_number("xy12-11", number, catalog) == expected
