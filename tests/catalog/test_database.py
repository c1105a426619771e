from __future__ import annotations

import json
import logging
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from app import PROJECT_ROOT
from app.catalog.database import (
    SHIPPED_CATALOG,
    CatalogDatabase,
    CatalogDatabaseError,
    build_database,
    name_key,
    number_key,
    open_catalog,
    store_set,
    writable_copy,
)
from tests.catalog.conftest import small_metadata


@pytest.fixture(scope="module")
def shipped() -> CatalogDatabase:
    return CatalogDatabase.open(SHIPPED_CATALOG)


def dump(path: Path) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    conn = sqlite3.connect(path)
    try:
        return (
            conn.execute("SELECT * FROM sets ORDER BY set_id").fetchall(),
            conn.execute("SELECT * FROM cards ORDER BY card_id").fetchall(),
        )
    finally:
        conn.close()


def test_the_shipped_catalogue_is_a_fresh_build_of_the_shared_metadata(metadata_dir: Path, tmp_path: Path) -> None:
    sets, cards = build_database(metadata_dir, tmp_path / "fresh.sqlite")
    assert (sets, cards) == (170, 19_783)
    assert dump(tmp_path / "fresh.sqlite") == dump(SHIPPED_CATALOG)


def test_the_shipped_catalogue_is_small_and_a_package_data_file() -> None:
    assert SHIPPED_CATALOG.stat().st_size < 5_000_000
    pyproject = (PROJECT_ROOT / "pyproject.toml").read_text()
    assert f'"app.catalog" = ["{SHIPPED_CATALOG.name}"]' in pyproject


def test_every_metadata_card_is_known_with_its_fields(metadata_dir: Path, shipped: CatalogDatabase) -> None:
    records = json.loads((metadata_dir / "cards" / "en" / "cel25c.json").read_text())
    for record in records:
        card = shipped.card(record["id"])
        assert card is not None
        assert (card.name, card.number, card.rarity, card.artist) == (
            record["name"],
            record["number"],
            record.get("rarity"),
            record.get("artist"),
        )
        assert (card.image_small, card.image_large) == (record["images"]["small"], record["images"]["large"])
    assert shipped.card_count() == 19_783


def test_a_card_carries_its_sets_facts(shipped: CatalogDatabase) -> None:
    card = shipped.card("base1-4")
    assert card is not None
    assert (card.name, card.set_name, card.series, card.printed_total, card.ptcgo_code) == (
        "Charizard",
        "Base",
        "Base",
        102,
        "BS",
    )
    assert card.subtypes == ("Stage 2",) and card.artist == "Mitsuhiro Arita"
    assert card.image_large == "https://images.pokemontcg.io/base1/4_hires.png"
    assert card.metadata()["ptcgo_code"] == "BS"


def test_sets_list_id_name_series_release_date_and_totals(shipped: CatalogDatabase) -> None:
    sets = {s.set_id: s for s in shipped.sets()}
    assert len(sets) == 170
    evo = sets["xy12"]
    assert (evo.name, evo.series, evo.release_date, evo.printed_total, evo.total, evo.ptcgo_code) == (
        "Evolutions",
        "XY",
        "2016/11/02",
        108,
        113,
        "EVO",
    )
    assert shipped.card_counts()["xy12"] == 113


def test_opening_the_catalogue_and_a_first_lookup_take_under_0_3_s() -> None:
    code = (
        "import time; t = time.perf_counter(); "
        "from app.catalog.database import open_catalog; db = open_catalog(); db.card('base1-4'); db.search('4/102'); "
        "print(time.perf_counter() - t)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)
    assert float(out.stdout) < 0.3


@pytest.mark.parametrize(
    ("text", "number", "total"),
    [("4/102", "4", 102), ("TG05", "TG05", None), ("SWSH061", "SWSH061", None), ("025/165", "25", 165)],
)
def test_search_by_collector_number(shipped: CatalogDatabase, text: str, number: str, total: int | None) -> None:
    cards = shipped.search(text)
    assert cards
    assert all(number_key(c.number) == number_key(number) for c in cards)
    if total is not None:
        assert all(c.printed_total == total for c in cards)


def test_number_and_name_together_name_one_card(shipped: CatalogDatabase) -> None:
    assert [c.card_id for c in shipped.search("charizard 4/102")] == ["base1-4"]
    assert shipped.search("swsh061")[0].card_id == "swshp-SWSH061"


def test_a_set_code_alone_lists_that_set_in_number_order(shipped: CatalogDatabase) -> None:
    cards = shipped.search("EVO", limit=200)
    assert [c.card_id for c in cards[:3]] == ["xy12-1", "xy12-2", "xy12-3"]
    assert {c.set_id for c in cards[:113]} == {"xy12"}


def test_a_set_code_narrows_a_name(shipped: CatalogDatabase) -> None:
    cards = shipped.search("charizard evo")
    assert cards[0].card_id == "xy12-11"
    assert all(c.set_id == "xy12" and "charizard" in c.name.lower() for c in cards)
    assert {c.set_id for c in shipped.search("pikachu", set_id="base1")} == {"base1"}


def test_a_word_that_is_also_a_set_code_still_finds_the_names(shipped: CatalogDatabase) -> None:
    assert shipped.search("charizard ex")[0].name == "Charizard ex"


def test_an_exact_name_comes_before_names_containing_it(shipped: CatalogDatabase) -> None:
    assert shipped.search("n")[0].name == "N"


def test_names_match_without_case_or_accents(shipped: CatalogDatabase) -> None:
    assert name_key("Flabébé") == "flabebe"
    assert shipped.search("FLABEBE")[0].name == "Flabébé"


def test_wildcard_characters_are_literal(shipped: CatalogDatabase) -> None:
    assert shipped.search("pika_chu") == []
    assert shipped.search("%") == []


def test_an_unknown_set_filter_is_refused(shipped: CatalogDatabase) -> None:
    with pytest.raises(CatalogDatabaseError, match="unknown set 'nope'"):
        shipped.search("pikachu", set_id="nope")


def test_numbers_are_compared_without_leading_zeros() -> None:
    assert number_key("025") == "25" and number_key("tg05") == "TG5" and number_key("SWSH061") == "SWSH61"


@pytest.mark.parametrize("content", [b"", b"garbage " * 500, b"SQLite format 3\x00" + b"\x00" * 200])
def test_a_damaged_catalogue_is_refused_in_one_line(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "catalog.db"
    path.write_bytes(content)
    with pytest.raises(CatalogDatabaseError) as caught:
        CatalogDatabase.open(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_a_database_of_another_kind_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(CatalogDatabaseError, match="not a cardsight catalogue"):
        CatalogDatabase.open(path)


def test_a_damaged_user_copy_is_skipped_for_the_shipped_one(
    private_data_home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    user = private_data_home / "cardsight" / "catalog.db"
    user.parent.mkdir(parents=True)
    user.write_bytes(b"broken" * 100)
    with caplog.at_level(logging.WARNING):
        db = open_catalog()
    assert db.path == SHIPPED_CATALOG
    assert "Ignoring the updated catalogue" in caplog.text


def user_copy_with(private_data_home: Path, extra_set: dict[str, object], drop: str | None = None) -> Path:
    user = private_data_home / "cardsight" / "catalog.db"
    user.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SHIPPED_CATALOG, user)
    conn = sqlite3.connect(user)
    with conn:
        store_set(conn, extra_set, [{"id": "zz1-1", "name": "Testmon", "number": "1"}])
        if drop:
            conn.execute("DELETE FROM cards WHERE set_id = ?", (drop,))
            conn.execute("DELETE FROM sets WHERE set_id = ?", (drop,))
    conn.close()
    return user


EXTRA = {"id": "zz1", "name": "Test Expansion", "releaseDate": "2030/01/01"}


def test_a_user_copy_is_preferred_when_it_opens(private_data_home: Path) -> None:
    user = user_copy_with(private_data_home, EXTRA)
    db = open_catalog()
    assert db.path == user and db.card("zz1-1") is not None


def test_a_user_copy_older_than_the_shipped_catalogue_is_not_used(
    private_data_home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    user_copy_with(private_data_home, EXTRA, drop="me2")
    with caplog.at_level(logging.WARNING):
        db = open_catalog()
    assert db.path == SHIPPED_CATALOG
    assert "lacks 1 set(s) this cardsight ships (me2)" in caplog.text


def test_writing_an_older_user_copy_first_merges_the_shipped_sets_it_lacks(private_data_home: Path) -> None:
    user = user_copy_with(private_data_home, EXTRA, drop="me2")
    with writable_copy(user) as conn:
        assert conn.execute("SELECT count(*) FROM cards WHERE set_id = 'me2'").fetchone()[0] == 130
    db = open_catalog()
    assert db.path == user and db.card_count() == 19_784


def test_a_failed_build_keeps_the_old_file(metadata_dir: Path, tmp_path: Path) -> None:
    meta = small_metadata(metadata_dir, tmp_path / "meta", ("base1", "xy12"))
    out = tmp_path / "catalog.sqlite"
    build_database(meta, out)
    before = out.read_bytes()
    (meta / "cards" / "en" / "xy12.json").write_text('[{"id": "xy12-1"}]')
    with pytest.raises(CatalogDatabaseError, match="malformed record in set xy12"):
        build_database(meta, out)
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["catalog.sqlite", "meta"]


def test_the_build_command_reports_a_missing_folder_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.catalog.database import main

    assert main(["build", "--metadata", str(tmp_path / "nowhere"), "--out", str(tmp_path / "c.sqlite")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "missing" in err
    assert not (tmp_path / "c.sqlite").exists()


def test_opening_never_writes_the_shipped_file(shipped: CatalogDatabase) -> None:
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        shipped.conn.execute("DELETE FROM sets")
