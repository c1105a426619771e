"""``cardsight prices`` and ``cardsight collection value`` through the real entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.cli import main

from .conftest import FakeApi, priced_cards

CSV_HEADER = "productId,name,cleanName,extNumber,lowPrice,midPrice,highPrice,marketPrice,directLowPrice,subTypeName"


def page(tmp_path: Path) -> Path:
    cards = [
        {
            "id": "xy12-1",
            "name": "Venusaur-EX",
            "tcgplayer": {
                "updatedAt": "2026/11/20",
                "prices": {"holofoil": {"market": 8.0}, "reverseHolofoil": {"market": 3.0}},
            },
            "cardmarket": {"updatedAt": "2026/11/21", "prices": {"trendPrice": 6.0}},
        }
    ]
    path = tmp_path / "page1.json"
    path.write_text(json.dumps({"data": cards}))
    return path


def last_json(capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_import_then_value_then_change_since(
    tmp_path: Path, collection_address: str, capsys: pytest.CaptureFixture[str]
) -> None:
    db = collection_address
    assert main(["collection", "--db", db, "add", "xy12-1", "--finish", "holo", "--qty", "2"]) == 0
    assert main(["collection", "--db", db, "add", "xy12-1", "--finish", "reverse holo", "--condition", "MP"]) == 0
    assert main(["collection", "--db", db, "add", "xy12-2"]) == 0
    assert main(["prices", "--db", db, "import", str(page(tmp_path)), "--json"]) == 0
    summary = last_json(capsys)
    assert summary["cards_priced"] == 1 and summary["quotes"] == 4
    assert main(["collection", "--db", db, "value", "--json"]) == 0
    value = last_json(capsys)
    assert value["total"] == 2 * 8.0 + 0.7 * 3.0 and value["unpriced_cards"] == 1
    assert value["newest_price_date"] == "2026-11-20" and value["price_sources"] == {"tcgplayer": 2}
    assert main(["collection", "--db", db, "value", "--currency", "EUR"]) == 0
    text = capsys.readouterr().out
    assert "Collection: 12.00 EUR for 2 of 4 card(s)" in text and "cardmarket (1 row(s)), dated 2026-11-21" in text
    assert main(["collection", "--db", db, "value", "--since", "2026-11-01", "--json"]) == 0
    change = last_json(capsys)["change"]
    assert change == {"since": "2026-11-01", "total_then": 0.0, "difference": 18.1}  # type: ignore[comparison-overlap]
    assert main(["prices", "--db", db, "show", "xy12-1", "--finish", "reverse holo"]) == 0
    assert "2026-11-20  tcgplayer        3.00 USD" in capsys.readouterr().out


def test_a_tcgplayer_csv_import_lists_unmatched_rows(
    tmp_path: Path, collection_address: str, capsys: pytest.CaptureFixture[str]
) -> None:
    db = collection_address
    assert main(["collection", "--db", db, "add", "xy12-1", "--finish", "holo"]) == 0
    csv = tmp_path / "evolutions.csv"
    csv.write_text(
        "\r\n".join(
            [CSV_HEADER, "1,Venusaur-EX,Venusaur EX,001/108,,,,4.50,,Holofoil", "2,Nobody,Nobody,999/108,,,,1,,Normal"]
        )
    )
    assert main(["prices", "--db", db, "import", str(csv), "--set", "xy12", "--date", "2026-12-01"]) == 0
    out = capsys.readouterr().out
    assert "1 card(s) priced (1 price(s)), 1 unmatched" in out and "no card 999 in set xy12" in out
    assert main(["collection", "--db", db, "value", "--json"]) == 0
    assert last_json(capsys)["total"] == 4.5


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["prices", "import", "{tmp}/nothing.json"], "nothing.json: no such file"),
        (["prices", "import", "{tmp}/pages"], "pages is a folder, not a file"),
        (["prices", "import", "{tmp}/notes.txt"], "expected saved pokemontcg.io pages (.json) or TCGplayer"),
        (["prices", "import", "{tmp}/bad.json"], "bad.json is not JSON"),
        (["prices", "import", "{tmp}/a.csv", "--date", "yesterday"], "--date: 'yesterday' is not a date"),
        (["prices", "update", "--api-base", "ftp://x"], "is not an http(s) URL"),
        (["collection", "value", "--on", "2026-13-01"], "'2026-13-01' is not a date"),
        (["collection", "value", "--conditions", "LP=3"], "the factor must be a number from 0 to 1"),
        (["collection", "value", "--session", "nope"], "nope"),
    ],
)
def test_bad_input_is_one_line_and_exit_1_with_nothing_stored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    db = tmp_path / "c.db"
    assert main(["collection", "--db", str(db), "add", "xy12-1"]) == 0
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "pages").mkdir()
    (tmp_path / "bad.json").write_text("{")
    (tmp_path / "a.csv").write_text(CSV_HEADER)
    before = db.read_bytes()
    capsys.readouterr()
    command = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert main([command[0], "--db", str(db), *command[1:]]) == 1
    err = capsys.readouterr().err
    problems = [line for line in err.splitlines() if line.startswith("cardsight:")]
    assert len(problems) == 1 and message in problems[0] and "Traceback" not in err
    assert db.read_bytes() == before


def test_update_from_a_local_server(
    tmp_path: Path, collection_address: str, capsys: pytest.CaptureFixture[str], fake_api: tuple[FakeApi, str]
) -> None:
    api, base = fake_api
    api.cards["xy12"] = priced_cards("xy12", 3)
    db = collection_address
    assert main(["collection", "--db", db, "add", "xy12-2", "--finish", "reverse holo", "--qty", "4"]) == 0
    assert main(["prices", "--db", db, "update", "--api-base", base, "--set", "xy12", "--api-key", "k"]) == 0
    captured = capsys.readouterr()
    assert "3 card(s) priced (6 price(s)), 0 unmatched" in captured.out and "xy12: page 1" in captured.err
    assert api.requests[0][1].get("X-Api-Key") == "k"
    assert main(["collection", "--db", db, "value", "--json"]) == 0
    assert last_json(capsys)["total"] == 0.8  # card 2's reverse holo: 2 / 10, × 4


def test_nothing_reaches_the_network_but_prices_update(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fake_api: tuple[FakeApi, str]
) -> None:
    api, _ = fake_api
    db = str(tmp_path / "c.db")
    main(["collection", "--db", db, "add", "xy12-1"])
    main(["prices", "--db", db, "import", str(page(tmp_path))])
    main(["collection", "--db", db, "value"])
    main(["collection", "--db", db, "export", str(tmp_path / "out.csv"), "--format", "dragonshield"])
    assert api.requests == []
