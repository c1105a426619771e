"""A kiosk whose shop server is away: it keeps scanning into its outbox, says so, and sends every
scan exactly once when the server answers again (also across a restart of the kiosk)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.cli import main
from app.collection import InventoryKey
from app.collection.open import open_collection, outbox_path_for
from app.collection.outbox import Outbox, OutboxCollection
from app.collection.postgres import PostgresCollection, ServerAway, default_kiosk
from app.config import Settings
from tests.collection.backends import need_server as _need_server
from tests.collection.conftest import CARDS
from tests.collection.pg.cluster import Cluster, make_cluster
from tests.collection.pg.kiosk_worker import expected_added, scan_record


@pytest.fixture(scope="module")
def own_cluster() -> Iterator[Cluster]:
    """A cluster of these tests alone: they stop and start it."""
    _need_server()
    cluster = make_cluster()
    yield cluster
    cluster.remove()


def kiosk(url: str, tmp_path: Path, name: str = "k1") -> OutboxCollection:
    store = open_collection(url, kiosk=name, outbox=tmp_path / f"outbox-{name}.db", background_sync=False)
    assert isinstance(store, OutboxCollection)
    return store


def scan_many(store: OutboxCollection, first: int, count: int, session_id: int | None = None) -> list[int]:
    return [
        store.record_scan(scan_record(i, session_id), auto_add=InventoryKey("")) for i in range(first, first + count)
    ]


def server_view(url: str) -> tuple[int, int, int]:
    """(scans, distinct uids, cards held) on the server."""
    with PostgresCollection(url, kiosk="check") as server:
        scans = server.scans()
        return len(scans), len({s["uid"] for s in scans}), server.inventory_totals()[1]


def test_a_wrong_password_keeps_the_kiosk_scanning_and_says_why(pg_cluster: Cluster, tmp_path: Path) -> None:
    url = pg_cluster.url("postgres", user="locked", password="wrong")
    store = kiosk(url, tmp_path)
    store.upsert_cards(CARDS)
    ids = scan_many(store, 0, 3)
    assert all(i < 0 for i in ids)
    assert store.status_text().startswith("offline — 3 scan(s) waiting")
    assert "password authentication failed" in store.status_text()
    with pytest.raises(ServerAway, match="still waiting in the outbox"):
        store.accept_scan(ids[0])
    store.close()


def test_an_unreachable_address_keeps_the_kiosk_scanning(tmp_path: Path) -> None:
    store = kiosk("postgresql://nobody@127.0.0.1:1/shop", tmp_path)
    scan_many(store, 0, 2)
    assert store.status().waiting == 2 and not store.status().online
    with pytest.raises(ServerAway, match="cannot be reached"):
        store.sync()
    store.close()


def test_scans_made_while_the_server_is_stopped_arrive_once_in_order(own_cluster: Cluster, tmp_path: Path) -> None:
    url = own_cluster.createdb("stopped")
    store = kiosk(url, tmp_path)
    session = store.start_session("Saturday")
    store.upsert_cards(CARDS)
    online = scan_many(store, 0, 5, session)
    own_cluster.stop()
    try:
        offline = scan_many(store, 5, 20, session)
        later_session = store.start_session("Saturday evening")
        offline += scan_many(store, 25, 5, later_session)
        assert all(i > 0 for i in online) and all(i < 0 for i in offline)
        assert store.status_text().startswith("offline — 25 scan(s) waiting")
    finally:
        own_cluster.start()
    assert store.sync() == 26  # 25 scans and the session started offline
    assert store.status_text() == "online"
    assert server_view(url) == (30, 30, expected_added(30))
    with PostgresCollection(url) as server:
        times = [s["time"] for s in server.scans()]
        assert times == sorted(times)
        assert [s["scans"] for s in server.sessions()] == [25, 5]
    # Local ids now resolve: the first offline scan can be corrected.
    store.correct_scan(offline[0], "xy12-2")
    store.close()


def test_the_outbox_survives_a_kiosk_restart(own_cluster: Cluster, tmp_path: Path) -> None:
    url = own_cluster.createdb("restart")
    own_cluster.stop()
    try:
        store = kiosk(url, tmp_path)
        store.upsert_cards(CARDS)
        scan_many(store, 0, 12)
        store.close()
    finally:
        own_cluster.start()
    again = kiosk(url, tmp_path)
    assert again.status().waiting == 12 and not again.status().online
    again.sync()
    again.sync()
    assert server_view(url) == (12, 12, expected_added(12))
    again.close()


def test_a_replay_cut_after_the_server_has_a_scan_does_not_send_it_twice(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = kiosk("postgresql://nobody@127.0.0.1:1/shop", tmp_path)
    store.upsert_cards(CARDS)
    scan_many(store, 0, 6)
    store.close()
    store = kiosk(pg_url, tmp_path)
    calls = {"n": 0}
    real_done = Outbox.done

    def dies_on_the_third(self: Outbox, *args: object) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # the kiosk dies between the server's commit and the outbox's
        real_done(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(Outbox, "done", dies_on_the_third)
    with pytest.raises(KeyboardInterrupt):
        store.sync()
    monkeypatch.setattr(Outbox, "done", real_done)
    store.sync()
    assert server_view(pg_url) == (6, 6, expected_added(6))
    store.close()


def test_cli_sync_status_and_force(
    pg_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings_file = tmp_path / "config.toml"
    settings_file.write_text(f'[collection]\ndb = "{tmp_path / "local.db"}"\nurl = "{pg_url}"\n', encoding="utf-8")
    monkeypatch.setenv("CARDSIGHT_CONFIG", str(settings_file))
    outbox = outbox_path_for(tmp_path / "local.db", default_kiosk())
    store = OutboxCollection(
        PostgresCollection("postgresql://nobody@127.0.0.1:1/shop", kiosk=default_kiosk()), outbox, background=False
    )
    store.upsert_cards(CARDS)
    scan_many(store, 0, 4)
    store.close()
    assert main(["collection", "sync", "--status"]) == 0
    assert "online — sending 4 scan(s) that waited" in capsys.readouterr().out
    assert main(["collection", "sync"]) == 0
    assert "Sent 5 waiting operation(s)" in capsys.readouterr().out
    assert server_view(pg_url)[0] == 4


def test_cli_sync_without_a_server_configured_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings_file = tmp_path / "config.toml"
    settings_file.write_text(f'[collection]\ndb = "{tmp_path / "local.db"}"\n', encoding="utf-8")
    monkeypatch.setenv("CARDSIGHT_CONFIG", str(settings_file))
    assert main(["collection", "sync"]) == 1
    assert "no shop server is configured" in capsys.readouterr().err


def test_the_configured_url_defaults_to_the_file() -> None:
    assert Settings().collection.url == ""
    assert sys.modules["app.collection.open"].is_server_url("postgresql://a@b/c")


def test_an_operation_the_server_refuses_is_set_aside_and_the_scans_behind_it_are_sent(
    pg_url: str, tmp_path: Path
) -> None:
    outbox = tmp_path / "outbox-k1.db"
    offline = OutboxCollection(
        PostgresCollection("postgresql://nobody@127.0.0.1:1/shop", kiosk="k1"), outbox, background=False
    )
    offline.upsert_cards(CARDS)
    # A queued end of a session the server never saw start: refused for what it is, not for want of a server.
    offline.outbox.push("end_session", "bogus-uid", {"session_id": -99, "ended_at": "2026-12-04T10:00:00Z"})
    scan_many(offline, 0, 3)
    offline.close()
    store = OutboxCollection(PostgresCollection(pg_url, kiosk="k1"), outbox, background=False)
    try:
        store.sync()
        status = store.status()
        assert status.waiting == 0 and status.refused == 1 and "1 refused" in store.status_text()
        assert server_view(pg_url)[0] == 3
    finally:
        store.close()
