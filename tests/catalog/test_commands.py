from __future__ import annotations

import _thread
import hashlib
import json
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

from app import PROJECT_ROOT
from app.catalog.database import SHIPPED_CATALOG, CatalogDatabase
from app.cli import main
from tests.catalog.fake_api import ApiData, FakeApi, faults_for

BUNDLE = PROJECT_ROOT / "reference" / "default"


@pytest.fixture(autouse=True)
def scratch_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("CARDSIGHT_CONFIG", raising=False)
    return home


def installed() -> set[str]:
    return {s["id"] for s in json.loads((BUNDLE / "manifest.json").read_text())["sets"]}


def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("this command must not use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_sets_json_lists_every_set_and_which_are_installed(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    no_network(monkeypatch)
    assert main(["catalog", "sets", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 170
    assert {r["id"] for r in rows if r["installed"]} == installed() == {"sv3pt5", "sv5", "xy12"}
    evo = next(r for r in rows if r["id"] == "xy12")
    assert (evo["name"], evo["series"], evo["release_date"], evo["cards"]) == ("Evolutions", "XY", "2016/11/02", 113)


def test_sets_text_has_one_line_per_set_and_a_total(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "sets"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 + 170 + 1
    assert lines[-1].startswith("170 sets, 19783 cards")
    assert any(line.startswith("xy12 ") and line.endswith("yes") for line in lines)


def test_sets_without_a_readable_bundle_say_installed_is_unknown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CARDSIGHT_MATCH__BUNDLE", str(tmp_path / "no-bundle"))
    assert main(["catalog", "sets", "--json"]) == 0
    captured = capsys.readouterr()
    assert {r["installed"] for r in json.loads(captured.out)} == {None}
    assert "installed sets unknown" in captured.err


def test_sets_read_an_interrupted_bundle_rebuilds_previous_copy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(BUNDLE, tmp_path / "bundle.previous")  # the rebuild died before its new copy was whole
    monkeypatch.setenv("CARDSIGHT_MATCH__BUNDLE", str(tmp_path / "bundle"))
    assert main(["catalog", "sets", "--json"]) == 0
    assert {r["id"] for r in json.loads(capsys.readouterr().out) if r["installed"]} == installed()


def test_search_finds_any_card_and_marks_whether_it_is_installed(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    no_network(monkeypatch)
    assert main(["catalog", "search", "charizard 4/102", "--json"]) == 0
    (card,) = json.loads(capsys.readouterr().out)
    assert (card["card_id"], card["set_name"], card["installed"], card["artist"]) == (
        "base1-4",
        "Base",
        False,
        "Mitsuhiro Arita",
    )
    assert main(["catalog", "search", "charizard", "--set", "EVO", "--json"]) == 0
    cards = json.loads(capsys.readouterr().out)
    assert cards[0]["card_id"] == "xy12-11" and all(c["installed"] for c in cards)


def test_search_text_prints_a_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "search", "TG05", "--limit", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and all("TG05" in line for line in lines[1:])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["catalog", "search", "zzzzqqq"], "no card matches 'zzzzqqq'"),
        (["catalog", "search", "   "], "give a name, a number"),
        (["catalog", "search", "pikachu", "--set", "nope"], "unknown set 'nope'"),
    ],
)
def test_search_problems_are_one_line_and_exit_1(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("command", [["sets"], ["search", "pikachu"]])
def test_a_damaged_catalogue_file_is_one_line_and_exit_1(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"\x00garbage" * 64)
    assert main(["catalog", *command, "--db", str(bad)]) == 1
    err = capsys.readouterr().err
    assert str(bad) in err and err.count("\n") == 1


def new_set(metadata_dir: Path) -> tuple[dict[str, object], list[dict[str, object]]]:
    record = {
        "id": "zz1",
        "name": "Test Expansion",
        "series": "Test",
        "printedTotal": 2,
        "total": 2,
        "ptcgoCode": "ZZX",
        "releaseDate": "2026/01/01",
        "updatedAt": "2026/01/01 00:00:00",
    }
    base = json.loads((metadata_dir / "cards" / "en" / "base1.json").read_text())[:2]
    cards = [
        {**card, "id": f"zz1-{i}", "number": str(i), "images": {"small": f"https://example/zz1/{i}.png"}}
        for i, card in enumerate(base, start=1)
    ]
    return record, cards


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_update_end_to_end_adds_a_new_set_that_sets_and_search_then_show(
    metadata_dir: Path, private_data_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = ApiData.from_metadata(metadata_dir)
    data.add_set(*new_set(metadata_dir))
    shipped_before = sha(SHIPPED_CATALOG)
    with FakeApi(data) as api:
        assert main(["catalog", "update", "--api-base", api.base, "--api-key", "secret"]) == 0
    out = capsys.readouterr().out
    assert "1 new, 0 updated, 170 already current; 19783 → 19785 cards" in out and "New sets: zz1" in out
    assert data.card_requests() == ["set.id:zz1"]
    assert sha(SHIPPED_CATALOG) == shipped_before
    user = private_data_home / "cardsight" / "catalog.db"
    assert CatalogDatabase.open(user).card("zz1-2") is not None
    assert main(["catalog", "search", "zz1-1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["images"]["small"] == "https://example/zz1/1.png"
    assert main(["catalog", "sets", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[-1]["id"] == "zz1"


def test_update_with_a_failed_set_says_so_and_exits_1(
    metadata_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = ApiData.from_metadata(metadata_dir)
    data.add_set(*new_set(metadata_dir))
    faults_for(data, "/v2/cards", "zz1", "always:404")
    with FakeApi(data) as api:
        code = main(["catalog", "update", "--api-base", api.base, "--db", str(tmp_path / "c.db")])
    assert code == 1
    out = capsys.readouterr().out
    assert "Failed: zz1: HTTP 404" in out and "Run `cardsight catalog update` again" in out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--db", str(SHIPPED_CATALOG)], "never writes the shipped catalogue"),
        (["--timeout", "0"], "--timeout must be more than 0"),
        (["--timeout", "nan"], "--timeout must be more than 0"),
        (["--timeout", "1e9"], "at most 600 seconds"),
    ],
)
def test_update_refuses_bad_requests_before_any_network(
    extra: list[str], message: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    no_network(monkeypatch)
    before = sha(SHIPPED_CATALOG)
    assert main(["catalog", "update", *extra]) == 1
    assert message in capsys.readouterr().err
    assert sha(SHIPPED_CATALOG) == before


def test_update_into_a_damaged_copy_is_one_line_and_leaves_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    no_network(monkeypatch)
    bad = tmp_path / "c.db"
    bad.write_bytes(b"nonsense" * 100)
    assert main(["catalog", "update", "--db", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "not a readable catalogue" in err and f"delete {bad}" in err and err.count("\n") == 1
    assert bad.read_bytes() == b"nonsense" * 100


def test_the_catalog_commands_are_documented_in_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["catalog", "--help"])
    text = capsys.readouterr().out
    assert all(word in text for word in ("sets", "search", "update", "4/102", "pokemontcg.io"))


def test_ctrl_c_does_not_wait_forever_for_a_download_stuck_in_one_step(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    stuck = threading.Event()
    release = threading.Event()

    def one_long_step(*args: object, **kwargs: object) -> list[object]:
        stuck.set()
        release.wait(30)  # a step that does not look at the cancel (a slow disk, a long native call)
        return []

    monkeypatch.setattr("app.catalog.commands.download_and_install", one_long_step)
    monkeypatch.setattr("app.catalog.commands.INTERRUPT_WAIT_S", 0.3)

    def press_ctrl_c() -> None:
        stuck.wait(30)
        _thread.interrupt_main()

    threading.Thread(target=press_ctrl_c, daemon=True).start()
    started = time.monotonic()
    try:
        assert main(["catalog", "download", "base1"]) == 130
        assert time.monotonic() - started < 10
    finally:
        release.set()
    assert "download interrupted" in capsys.readouterr().err
