"""A kiosk's scan session (what the GUI drives) on the shop server, started while the server is away."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app import PROJECT_ROOT
from app.collection.open import open_collection
from app.collection.postgres import PostgresCollection
from app.match.bundle import ReferenceBundle
from app.pipeline import ScanEvent
from app.session import ScanSession
from tests.collection.pg.cluster import Cluster


@pytest.fixture(scope="module")
def bundle() -> ReferenceBundle:
    return ReferenceBundle.load(PROJECT_ROOT / "reference" / "default")


def identified(card_id: str, t: float) -> ScanEvent:
    return ScanEvent(
        t=t, track=int(t), event="identified", card_id=card_id, confidence=0.9, crop=np.zeros((61, 44, 3), np.uint8)
    )


def test_a_kiosk_session_starts_and_scans_with_the_server_away_then_arrives_whole(
    pg_cluster: Cluster, pg_url: str, bundle: ReferenceBundle, tmp_path: Path
) -> None:
    outbox = tmp_path / "outbox.db"
    away = pg_cluster.url("postgres", user="locked", password="wrong")
    collection = open_collection(away, kiosk="front", outbox=outbox, background_sync=False)
    session = ScanSession(collection, bundle, auto_add=True, label="Kiosk")
    entries = [session.record(identified("sv5-10", 1.0)), session.record(identified("sv5-10", 2.0))]
    assert all(e is not None and e.added and e.scan_id < 0 for e in entries)
    assert collection.status_text().startswith("offline — 2 scan(s) waiting")
    collection.close()

    collection = open_collection(pg_url, kiosk="front", outbox=outbox, background_sync=False)
    collection.sync()
    with PostgresCollection(pg_url) as server:
        [listed] = server.sessions()
        assert (listed["label"], listed["scans"], listed["cards_added"], listed["kiosk_id"]) == ("Kiosk", 2, 2, "front")
        assert all(s["crop_path"] and s["kiosk"] == "front" for s in server.scans())
    assert collection.status_text() == "online"
    collection.close()
