"""A card proposed from its number, or a printing not installed, can be added like any other: the
scan event names it from the catalogue, and picking it (the GUI's key 1) and adding it (Space) puts it in
the collection with its catalogue metadata."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app import PROJECT_ROOT
from app.catalog.database import default_catalog
from app.collection.store import Collection
from app.match.bundle import ReferenceBundle
from app.match.catalogue_rules import CatalogueMetadata
from app.match.decision import Decision, NumberRead, propose_by_number
from app.pipeline import decision_event
from app.session import ScanSession


def test_a_card_proposed_from_its_number_is_named_picked_and_added_like_any_suggestion(tmp_path: Path) -> None:
    bundle = ReferenceBundle.load(PROJECT_ROOT / "reference" / "default")
    assert "base1-4" not in bundle.metadata
    unknown = Decision("unknown", None, 0.3, 0.0, 0.01, [], "like no card")
    proposed = propose_by_number(unknown, NumberRead("illegible", None, "4/102", ("base1-4",)))
    metadata = CatalogueMetadata(bundle.metadata, default_catalog())
    event = decision_event(proposed, 1.0, 1, metadata, np.zeros((614, 440, 3), np.uint8))
    assert (event.event, event.card_id, event.name, event.set_id, event.number) == (
        "uncertain",
        "base1-4",
        "Charizard",
        "base1",
        "4",
    )
    assert event.as_json()["reason"] == "read 4/102; the picture matches no installed card"
    collection = Collection(tmp_path / "c.db", synchronous="NORMAL")
    session = ScanSession(collection, bundle)
    entry = session.record(event)
    assert entry is not None and entry.card_id is None  # uncertain: nothing is added unasked
    # The GUI: key 1 picks the first suggestion (ui/controller.py correct_current), Space adds it.
    session.correct(entry, entry.alternatives[0]["card_id"])
    session.add(entry)
    rows = collection.inventory()
    assert [(r["card_id"], r["name"], r["quantity"]) for r in rows] == [("base1-4", "Charizard", 1)]


def test_collection_add_takes_a_card_of_a_set_not_installed_with_its_catalogue_metadata(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.cli import main

    db = tmp_path / "c.db"
    assert main(["collection", "--db", str(db), "add", "base1-4"]) == 0
    rows = Collection(db, synchronous="NORMAL").inventory()
    assert [(r["card_id"], r["name"]) for r in rows] == [("base1-4", "Charizard")]
