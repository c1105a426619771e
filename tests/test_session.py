"""The scanning session: every decision logged at once, add / correct / undo, search, auto-add."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from app import PROJECT_ROOT
from app.collection.store import Collection, CollectionError
from app.match.bundle import ReferenceBundle
from app.pipeline import ScanEvent
from app.session import ScanSession


@pytest.fixture(scope="module")
def bundle() -> ReferenceBundle:
    return ReferenceBundle.load(PROJECT_ROOT / "reference" / "default")


def event(kind: str, card_id: str | None, alternatives: list[str]) -> ScanEvent:
    return ScanEvent(
        t=1.0,
        track=1,
        event=kind,  # type: ignore[arg-type]
        card_id=card_id,
        confidence=0.9,
        alternatives=[{"card_id": c, "confidence": 0.1} for c in alternatives],
        crop=np.zeros((614, 440, 3), np.uint8),
    )


def test_every_decision_is_logged_even_before_it_is_added(tmp_path: Path, bundle: ReferenceBundle) -> None:
    collection = Collection(tmp_path / "c.db", synchronous="NORMAL")
    session = ScanSession(collection, bundle)
    entry = session.record(event("identified", "sv5-10", ["sv5-10", "sv5-9"]))
    unknown = session.record(event("unknown", None, ["sv5-10"]))
    assert entry is not None and unknown is not None
    assert session.record(ScanEvent(t=2.0, track=1, event="lost")) is None
    scans = collection.scans()
    assert [(s["status"], s["card_id"], s["action"]) for s in scans] == [
        ("identified", "sv5-10", "pending"),
        ("unknown", None, "pending"),
    ]
    assert scans[0]["crop_path"]  # what the camera saw is kept
    assert collection.inventory() == []


def test_add_correct_and_undo_follow_the_inventory(tmp_path: Path, bundle: ReferenceBundle) -> None:
    collection = Collection(tmp_path / "c.db", synchronous="NORMAL")
    session = ScanSession(collection, bundle)
    entry = session.record(event("identified", "sv5-10", ["sv5-10", "sv5-9"]))
    assert entry is not None
    session.options.condition = "LP"
    session.add(entry)
    with pytest.raises(CollectionError, match="already added"):
        session.add(entry)
    session.correct(entry, "sv5-9")
    assert [(r["card_id"], r["condition"], r["quantity"]) for r in collection.inventory()] == [("sv5-9", "LP", 1)]
    session.undo()
    assert [r["card_id"] for r in collection.inventory()] == ["sv5-10"] and entry.card_id == "sv5-10"
    session.undo()
    assert collection.inventory() == [] and not entry.added and session.added_count == 0


def test_auto_add_session_counts_identified_cards_only(tmp_path: Path, bundle: ReferenceBundle) -> None:
    collection = Collection(tmp_path / "c.db", synchronous="NORMAL")
    session = ScanSession(collection, bundle, auto_add=True, label="intake")
    session.record(event("identified", "xy12-1", ["xy12-1"]))
    session.record(event("uncertain", "xy12-2", ["xy12-2", "xy12-1"]))
    session.record(event("card_back", None, []))
    assert session.added_count == 1
    assert collection.session_summary(session.session_id or 0)["cards_added"] == 1


def test_uncertain_scan_can_be_resolved_by_picking_a_card(tmp_path: Path, bundle: ReferenceBundle) -> None:
    collection = Collection(tmp_path / "c.db", synchronous="NORMAL")
    session = ScanSession(collection, bundle)
    entry = session.record(event("unknown", None, []))
    assert entry is not None
    with pytest.raises(CollectionError, match="no card chosen"):
        session.add(entry)
    hits = session.search("pikachu")
    assert hits and all("pikachu" in str(h["name"]).lower() for h in hits)
    assert any(h["card_id"] == "sv3pt5-25" for h in session.search("025/165"))
    session.correct(entry, hits[0]["card_id"])
    session.add(entry)
    assert [r["card_id"] for r in collection.inventory()] == [hits[0]["card_id"]]


def test_a_presentation_named_after_it_was_uncertain_is_listed_once_and_both_scans_are_logged(
    tmp_path: Path, bundle: ReferenceBundle
) -> None:
    collection = Collection(tmp_path / "c.db", synchronous="NORMAL")
    session = ScanSession(collection, bundle, auto_add=True)
    session.record(event("uncertain", "sv5-10", ["sv5-10", "sv5-9"]))
    named = session.record(event("identified", "sv5-10", ["sv5-10"]))
    assert named is not None and session.recent == [named] and session.added_count == 1
    assert [s["status"] for s in collection.scans()] == ["uncertain", "identified"]
    assert [(r["card_id"], r["quantity"]) for r in collection.inventory()] == [("sv5-10", 1)]


def test_an_uncertain_entry_the_user_resolved_stays_listed_when_the_card_is_named_later(
    tmp_path: Path, bundle: ReferenceBundle
) -> None:
    collection = Collection(tmp_path / "c.db", synchronous="NORMAL")
    session = ScanSession(collection, bundle)
    unsure = session.record(event("uncertain", "sv5-10", ["sv5-10", "sv5-9"]))
    assert unsure is not None
    session.correct(unsure, "sv5-9")
    named = session.record(event("identified", "sv5-10", ["sv5-10"]))
    assert session.recent == [named, unsure]


def test_the_unsure_entry_is_replaced_even_when_another_card_was_decided_in_between(
    tmp_path: Path, bundle: ReferenceBundle
) -> None:
    collection = Collection(tmp_path / "c.db", synchronous="NORMAL")
    session = ScanSession(collection, bundle)
    session.record(event("uncertain", "sv5-10", ["sv5-10", "sv5-9"]))
    other = session.record(replace(event("identified", "sv5-9", ["sv5-9"]), track=2))
    named = session.record(event("identified", "sv5-10", ["sv5-10"]))
    assert session.recent == [named, other]
