"""Property: any sequence of adds, scans, corrections and undos keeps the inventory equal to the
replay of the change log, and undoing everything leaves nothing."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.collection import InventoryKey, ScanRecord
from app.collection.store import MAX_UNDO
from tests.collection.backends import address_for, open_address

from .conftest import CARDS

CARD_IDS = [c["card_id"] for c in CARDS]
operation = st.one_of(
    st.tuples(st.just("add"), st.sampled_from(CARD_IDS), st.integers(1, 3), st.sampled_from(["normal", "holo"])),
    st.tuples(st.just("scan"), st.sampled_from(CARD_IDS), st.booleans()),
    st.tuples(st.just("correct"), st.integers(0, 20), st.sampled_from(CARD_IDS)),
    st.tuples(st.just("undo"), st.integers(1, 3)),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(operation, max_size=25))
def test_inventory_always_equals_the_replayed_log(backend: str, ops: list[tuple[object, ...]]) -> None:
    with tempfile.TemporaryDirectory() as tmp, open_address(address_for(backend, Path(tmp)), Path(tmp)) as c:
        c.upsert_cards(CARDS)
        scans: list[int] = []
        for op in ops:
            if op[0] == "add":
                c.add(InventoryKey(str(op[1]), finish=str(op[3])), int(op[2]))  # type: ignore[call-overload]
            elif op[0] == "scan":
                scans.append(
                    c.record_scan(
                        ScanRecord("identified", str(op[1]), 0.9), auto_add=InventoryKey("") if op[2] else None
                    )
                )
            elif op[0] == "correct" and scans:
                c.correct_scan(scans[int(op[1]) % len(scans)], str(op[2]))  # type: ignore[call-overload]
            elif op[0] == "undo":
                c.undo(int(op[1]))  # type: ignore[call-overload]
            stored, replayed = c.stored_quantities(), c.replayed_quantities()
            assert all(stored[row] == replayed.get(row, 0) for row in stored)
            assert all(q >= 0 for q in stored.values())
        while c.undo(MAX_UNDO):
            pass
        assert all(q == 0 for q in c.stored_quantities().values())
        assert all(s["action"] == "pending" for s in c.scans())
