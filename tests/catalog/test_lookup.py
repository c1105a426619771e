from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from app import PROJECT_ROOT
from app.catalog import database
from app.catalog.lookup import search_cards
from app.collection.store import Collection
from app.match.bundle import ReferenceBundle
from app.pipeline import ScanEvent
from app.session import ScanSession


@pytest.fixture(scope="module")
def bundle() -> ReferenceBundle:
    return ReferenceBundle.load(PROJECT_ROOT / "reference" / "default")


@pytest.fixture
def session(tmp_path: Path, bundle: ReferenceBundle) -> ScanSession:
    return ScanSession(Collection(tmp_path / "c.db", synchronous="NORMAL"), bundle)


def unknown_scan() -> ScanEvent:
    return ScanEvent(
        t=1.0,
        track=1,
        event="unknown",
        card_id=None,
        confidence=0.2,
        alternatives=[],
        crop=np.zeros((614, 440, 3), np.uint8),
    )


def test_the_session_finds_a_card_outside_the_bundle(session: ScanSession, bundle: ReferenceBundle) -> None:
    assert "base1-4" not in bundle.metadata
    (hit,) = session.search("charizard 4/102")
    assert hit["card_id"] == "base1-4"
    assert (hit["name"], hit["set_name"], hit["number"], hit["printed_total"]) == ("Charizard", "Base", "4", 102)


def test_the_bundles_sets_come_first_among_equal_matches(session: ScanSession, bundle: ReferenceBundle) -> None:
    installed = {m.get("set_id") for m in bundle.metadata.values()}
    hits = session.search("pikachu", limit=60)
    exact = [h["set_id"] in installed for h in hits if h["name"] == "Pikachu"]
    assert exact[0] and not exact[-1]  # the catalogue's other Pikachus are there too
    assert exact == sorted(exact, reverse=True)
    assert session.search("025/165")[0]["card_id"] == "sv3pt5-25"


def test_bundle_cards_keep_the_bundles_metadata(session: ScanSession, bundle: ReferenceBundle) -> None:
    hit = session.search("xy12-11")[0]
    assert hit == bundle.metadata["xy12-11"]


def test_a_card_found_outside_the_bundle_can_be_stored_and_added(session: ScanSession) -> None:
    entry = session.record(unknown_scan())
    assert entry is not None
    (hit,) = session.search("charizard 4/102")
    session.collection.upsert_cards([hit])
    session.correct(entry, hit["card_id"])
    session.add(entry)
    (row,) = session.collection.inventory()
    assert (row["card_id"], row["name"], row["set_name"]) == ("base1-4", "Charizard", "Base")


def test_picking_a_card_outside_the_bundle_by_hand_adds_it(session: ScanSession) -> None:
    entry = session.record(unknown_scan())
    assert entry is not None
    session.correct(entry, session.search("charizard 4/102")[0]["card_id"])
    session.add(entry)
    assert [r["card_id"] for r in session.collection.inventory()] == ["base1-4"]


def test_without_a_readable_catalogue_the_bundle_is_searched(
    bundle: ReferenceBundle, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> database.CatalogDatabase:
        raise database.CatalogDatabaseError("no catalogue database at /x")

    monkeypatch.setattr(database, "default_catalog", broken)
    with caplog.at_level(logging.WARNING):
        hits = search_cards("pikachu", bundle.metadata)
    assert hits and all(h["card_id"] in bundle.metadata for h in hits)
    assert "Searching the reference bundle only" in caplog.text


def test_blank_text_finds_nothing(session: ScanSession) -> None:
    assert session.search("   ") == []


def test_catalog_metadata_has_the_collections_shape() -> None:
    meta = database.catalog_metadata("base1-4")
    assert meta is not None and {"card_id", "name", "set_id", "set_name", "number", "printed_total"} <= set(meta)
    assert database.catalog_metadata("nope-1") is None


def test_collection_add_takes_any_card_of_the_catalogue_and_names_an_unknown_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.cli import main

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("CARDSIGHT_CONFIG", str(tmp_path / "config.toml"))
    db = tmp_path / "c.db"
    assert main(["collection", "--db", str(db), "add", "base1-4"]) == 0
    assert main(["collection", "--db", str(db), "add", "nope-1"]) != 0
    assert "not in the catalogue" in capsys.readouterr().err
    assert main(["collection", "--db", str(db), "list", "--json"]) == 0
    assert "Charizard" in capsys.readouterr().out
