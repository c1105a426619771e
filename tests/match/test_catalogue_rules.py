"""The decision's rules with the catalogue behind the bundle (``app.match.catalogue_rules``)."""

from __future__ import annotations

import pytest

from app.catalog.database import CatalogDatabase, CatalogDatabaseError, default_catalog
from app.match.catalogue_rules import CatalogueMetadata, catalogue_rules, installed_sets, printings_by_card
from app.match.decision import MatchThresholds

#: Two installed cards: the Evolutions Charizard (a Base Set reprint) and a 151 card with no reprint.
BUNDLE = {
    "xy12-11": {"card_id": "xy12-11", "name": "Charizard", "set_id": "xy12", "number": "11"},
    "sv3pt5-1": {"card_id": "sv3pt5-1", "name": "Bulbasaur", "set_id": "sv3pt5", "number": "1"},
    "back:en": {"card_id": "back:en"},
}


def test_the_metadata_names_catalogue_cards_beyond_the_bundle_but_lists_only_the_bundle() -> None:
    metadata = CatalogueMetadata(BUNDLE, default_catalog())
    assert metadata["xy12-11"] is BUNDLE["xy12-11"]
    base = metadata.get("base1-4", {})
    assert (base.get("name"), base.get("set_name"), base.get("number"), base.get("printed_total")) == (
        "Charizard",
        "Base",
        "4",
        102,
    )
    assert "no-such-card" not in metadata and "back:nowhere" not in metadata
    assert sorted(metadata) == sorted(BUNDLE) and len(metadata) == len(BUNDLE)


def test_a_reprinted_bundle_card_has_its_printings_in_sets_not_installed() -> None:
    printings = printings_by_card(BUNDLE, default_catalog())
    assert installed_sets(BUNDLE) == {"xy12", "sv3pt5"}
    assert "base1-4" in printings["xy12-11"]
    assert all(not p.startswith(("xy12-", "sv3pt5-")) for p in printings["xy12-11"])
    assert "sv3pt5-1" not in printings or all(p.split("-")[0] not in {"xy12", "sv3pt5"} for p in printings["sv3pt5-1"])


def test_the_rules_check_reprints_and_propose_by_number_with_the_catalogue() -> None:
    rules = catalogue_rules(MatchThresholds(), BUNDLE, 0.1, default_catalog())
    assert rules.proposes_by_number and "base1-4" in rules.printings_elsewhere("xy12-11")
    assert rules.printings_elsewhere("not-a-card") == ()
    assert rules.metadata.get("base1-4", {}).get("set_id") == "base1"


def test_without_a_readable_catalogue_the_rules_are_the_bundles_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    def unreadable() -> CatalogDatabase:
        raise CatalogDatabaseError("no catalogue database at /nowhere")

    monkeypatch.setattr("app.match.catalogue_rules.default_catalog", unreadable)
    rules = catalogue_rules(MatchThresholds(), BUNDLE, 0.1)
    assert not rules.proposes_by_number
    assert rules.printings_elsewhere("xy12-11") == ()
    assert rules.metadata is BUNDLE
