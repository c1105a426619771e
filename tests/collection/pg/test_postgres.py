"""The shop server backend: kiosks side by side, idempotent scans, the schema guard, migration, the CLI."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
import pytest

from app.cli import main
from app.collection import Collection, CollectionError, InventoryKey, ScanRecord
from app.collection.migrate import copy_postgres_to_sqlite_report, copy_sqlite_to_postgres
from app.collection.postgres import PostgresCollection
from tests.collection.conftest import CARDS


def kiosk(url: str, name: str, tmp_path: Path) -> PostgresCollection:
    store = PostgresCollection(url, kiosk=name, crops_dir=tmp_path / name)
    store.upsert_cards(CARDS)
    return store


def scan(card: str) -> ScanRecord:
    return ScanRecord(status="identified", card_id=card, confidence=0.9)


def quantities(store: PostgresCollection) -> dict[str, int]:
    return {r["card_id"]: r["quantity"] for r in store.inventory()}


def test_undo_on_one_kiosk_never_takes_back_another_kiosks_scan(pg_url: str, tmp_path: Path) -> None:
    a, b = kiosk(pg_url, "a", tmp_path), kiosk(pg_url, "b", tmp_path)
    a.record_scan(scan("sv3pt5-25"), auto_add=InventoryKey(""))
    b.record_scan(scan("sv3pt5-25"), auto_add=InventoryKey(""))
    undone = a.undo(1)
    assert [u["kiosk"] for u in undone] == ["a"]
    assert quantities(b) == {"sv3pt5-25": 1}
    assert a.undoable(1) == []
    assert [x["kiosk"] for x in b.undoable(1)] == ["b"]
    a.close()
    b.close()


def test_a_correction_moves_only_that_scans_own_card(pg_url: str, tmp_path: Path) -> None:
    a, b = kiosk(pg_url, "a", tmp_path), kiosk(pg_url, "b", tmp_path)
    mine = a.record_scan(scan("sv3pt5-25"), auto_add=InventoryKey(""))
    b.record_scan(scan("sv3pt5-25"), auto_add=InventoryKey(""))
    a.correct_scan(mine, "xy12-1")
    assert quantities(b) == {"sv3pt5-25": 1, "xy12-1": 1}
    a.close()
    b.close()


def test_undo_that_would_go_below_zero_after_another_kiosks_count_is_refused(pg_url: str, tmp_path: Path) -> None:
    a, b = kiosk(pg_url, "a", tmp_path), kiosk(pg_url, "b", tmp_path)
    scan_id = a.record_scan(scan("sv5-10"), auto_add=InventoryKey(""))
    b.set_quantity(next(iter(b.stored_quantities())), 0)
    with pytest.raises(CollectionError, match="refused"):
        a.undo(1)
    assert a.scan_row(scan_id)["action"] == "accepted"
    assert a.replayed_quantities() == a.stored_quantities()
    a.close()
    b.close()


def test_a_scan_sent_twice_under_one_uid_counts_once(pg_url: str, tmp_path: Path) -> None:
    a = kiosk(pg_url, "a", tmp_path)
    first = a.record_scan(scan("xy12-2"), auto_add=InventoryKey(""), uid="same-uid")
    again = a.record_scan(scan("xy12-2"), auto_add=InventoryKey(""), uid="same-uid")
    assert first == again
    assert quantities(a) == {"xy12-2": 1}
    assert len(a.scans()) == 1
    a.close()


def test_a_server_with_a_newer_schema_is_refused(pg_url: str, tmp_path: Path) -> None:
    kiosk(pg_url, "a", tmp_path).close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE cardsight_meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(CollectionError, match="newer than this cardsight"):
        PostgresCollection(pg_url).inventory()


def test_a_malformed_url_is_one_clear_error() -> None:
    with pytest.raises(CollectionError, match="not a PostgreSQL URL"):
        PostgresCollection("mysql://x")
    with pytest.raises(CollectionError, match="malformed"):
        PostgresCollection("postgresql://a@b:c:d/e?bogus_option=1")


def sqlite_collection(path: Path) -> Path:
    with Collection(path) as local:
        local.upsert_cards(CARDS)
        session = local.start_session("Friday")
        scan_id = local.record_scan(
            ScanRecord("identified", "sv3pt5-25", 0.93, session_id=session), auto_add=InventoryKey("")
        )
        local.correct_scan(scan_id, "xy12-1")
        local.add(InventoryKey("sv5-10", location="box"), 3, notes="é ★", price_paid=0.25)
        local.undo(1)
        local.add(InventoryKey("sv5-10"), 2)
    return path


def test_migrate_to_the_server_and_back_keeps_every_row(pg_url: str, tmp_path: Path) -> None:
    source = sqlite_collection(tmp_path / "shop.db")
    with PostgresCollection(pg_url, kiosk="migrate") as server:
        there = copy_sqlite_to_postgres(source, server)
        # New rows continue after the copied ids, and the copy keeps working.
        server.add(InventoryKey("xy12-2"), 1)
        server.undo(1)
        back = copy_postgres_to_sqlite_report(server, tmp_path / "back.db")
    grown = {t: back.counts[t] - there.counts[t] for t in there.counts}
    assert grown == {"cards": 0, "sessions": 0, "actions": 1, "scans": 0, "inventory": 1, "inventory_changes": 1,
                     "prices": 0}  # fmt: skip
    with Collection(source, readonly=True) as before, Collection(tmp_path / "back.db", readonly=True) as after:
        assert after.inventory() == before.inventory()
        assert after.sessions() == before.sessions()


def test_migrate_refuses_a_server_that_already_holds_a_collection(pg_url: str, tmp_path: Path) -> None:
    kiosk(pg_url, "a", tmp_path).close()
    with PostgresCollection(pg_url) as server, pytest.raises(CollectionError, match="already holds"):
        copy_sqlite_to_postgres(sqlite_collection(tmp_path / "shop.db"), server)


def test_cli_migrate_both_ways_and_list_through_the_server(
    pg_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = sqlite_collection(tmp_path / "shop.db")
    assert main(["collection", "migrate", "--from", f"sqlite:{source}", "--to", pg_url]) == 0
    assert "counts and checksums match" in capsys.readouterr().out
    assert main(["collection", "--db", pg_url, "list", "--json"]) == 0
    assert '"sv5-10"' in capsys.readouterr().out
    assert main(["collection", "migrate", "--from", pg_url, "--to", f"sqlite:{tmp_path / 'back.db'}"]) == 0
    assert sqlite3.connect(tmp_path / "back.db").execute("SELECT SUM(quantity) FROM inventory").fetchone()[0] == 3


def test_cli_migrate_between_two_files_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["collection", "migrate", "--from", "a.db", "--to", "sqlite:b.db"]) == 1
    assert "one of each" in capsys.readouterr().err


def test_cli_on_an_unreachable_server_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["collection", "--db", "postgresql://nobody@127.0.0.1:1/shop", "list"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("cardsight: the shop server postgresql://nobody@127.0.0.1:1/shop cannot be reached")
    assert err.count("\n") == 1


def test_cli_import_on_the_server_adds_the_cards_as_one_undoable_action(
    pg_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kiosk(pg_url, "a", tmp_path).close()
    csv = tmp_path / "in.csv"
    csv.write_text("card_id,quantity\nsv5-10,2\nxy12-1,1\n", encoding="utf-8")
    assert main(["collection", "--db", pg_url, "import", str(csv)]) == 0
    with PostgresCollection(pg_url) as server:
        assert quantities(server) == {"sv5-10": 2, "xy12-1": 1}
        [action] = server.undoable(1)
        assert action["kind"] == "import"
        server.undo(1)
        assert quantities(server) == {}


def test_a_sqlite_address_opens_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = sqlite_collection(tmp_path / "shop.db")
    assert main(["collection", "--db", f"sqlite:{source}", "list"]) == 0
    assert "3 card(s) in 2 row(s)" in capsys.readouterr().out


def test_without_server_binaries_the_tests_skip_naming_the_package_or_fail_in_ci(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.collection import backends

    monkeypatch.setattr(backends, "find_bin_dir", lambda: None)
    monkeypatch.delenv("CARDSIGHT_REQUIRE_SYSTEM_TOOLS", raising=False)
    with pytest.raises(pytest.skip.Exception, match="Debian package `postgresql`"):
        backends.need_server()
    monkeypatch.setenv("CARDSIGHT_REQUIRE_SYSTEM_TOOLS", "1")
    with pytest.raises(pytest.fail.Exception, match="CARDSIGHT_REQUIRE_SYSTEM_TOOLS"):
        backends.need_server()
