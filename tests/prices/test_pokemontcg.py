from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from app.collection import Collection
from app.prices.base import PriceError, Report
from app.prices.pokemontcg import PAGE_SIZE, ApiSource, PagesSource, card_quotes
from app.prices.table import run_source

from .conftest import FakeApi, price_rows, priced_cards

TODAY = dt.date(2026, 12, 4)


def source(base: str, sets: tuple[str, ...] = ("sv1",), **options: Any) -> tuple[ApiSource, list[float]]:
    waits: list[float] = []
    options.setdefault("rate_limit", None)
    return ApiSource(base, sets, sleep=waits.append, backoff_s=0.5, today=TODAY, timeout_s=5, **options), waits


def test_each_tcgplayer_finish_is_its_own_price_and_reverse_holo_is_not_the_holo() -> None:
    quotes = card_quotes(
        {
            "id": "base1-4",
            "tcgplayer": {
                "updatedAt": "2026/11/30",
                "prices": {
                    "holofoil": {"low": 300, "mid": 350, "market": 340.5},
                    "reverseHolofoil": {"market": 12.0},
                    "1stEditionHolofoil": {"mid": 9000},
                    "normal": {"low": None},
                    "someNewFinish": {"market": 1},
                },
            },
        }
    )
    usd = {q.finish: (q.price, q.date, q.currency) for q in quotes}
    assert usd == {
        "holo": (340.5, "2026-11-30", "USD"),
        "reverse holo": (12.0, "2026-11-30", "USD"),
        "1st edition holo": (9000.0, "2026-11-30", "USD"),  # no market: the mid price
    }


def test_cardmarket_prices_are_eur_with_the_reverse_holo_trend_apart() -> None:
    quotes = card_quotes(
        {
            "id": "sv1-1",
            "cardmarket": {
                "updatedAt": "2026/12/02",
                "prices": {"averageSellPrice": 1.5, "trendPrice": 1.2, "reverseHoloTrend": 0.4, "avg7": 1.1},
            },
        }
    )
    assert {(q.finish, q.price, q.currency, q.source) for q in quotes} == {
        ("normal", 1.2, "EUR", "cardmarket"),
        ("holo", 1.2, "EUR", "cardmarket"),
        ("reverse holo", 0.4, "EUR", "cardmarket"),
    }
    assert quotes[0].figures["avg7"] == 1.1


def test_update_pages_through_a_set_and_stores_every_price(
    collection: Collection, fake_api: tuple[FakeApi, str]
) -> None:
    api, base = fake_api
    api.cards["sv1"] = priced_cards("sv1", PAGE_SIZE + 7)
    api.cards["sv2"] = priced_cards("sv2", 3)
    api_source, _ = source(base, ("sv1", "sv2"), api_key="secret")
    report = run_source(collection, api_source)
    assert len(report.cards) == PAGE_SIZE + 10 and report.quotes == 2 * (PAGE_SIZE + 10)
    assert price_rows(collection) == 2 * (PAGE_SIZE + 10)
    pages = [path for path, _ in api.requests]
    assert len(pages) == 3 and "page=2" in pages[1] and "q=set.id%3Asv1" in pages[0]
    assert all(headers.get("X-Api-Key") == "secret" for _, headers in api.requests)


def test_429_waits_as_retry_after_says_then_goes_on(collection: Collection, fake_api: tuple[FakeApi, str]) -> None:
    api, base = fake_api
    api.cards["sv1"] = priced_cards("sv1", 2)
    limited = iter([True, True])
    api.faults.append(lambda a, q: (429, {"Retry-After": "3"}, b"slow down") if next(limited, False) else None)
    api_source, waits = source(base)
    report = run_source(collection, api_source)
    assert waits == [3.0, 3.0] and len(report.cards) == 2 and price_rows(collection) == 4


def test_5xx_backs_off_exponentially_then_goes_on(collection: Collection, fake_api: tuple[FakeApi, str]) -> None:
    api, base = fake_api
    api.cards["sv1"] = priced_cards("sv1", 2)
    failing = iter([502, 503, 500])
    api.faults.append(lambda a, q: (code, {}, b"oops") if (code := next(failing, 0)) else None)
    api_source, waits = source(base)
    run_source(collection, api_source)
    assert waits == [0.5, 1.0, 2.0] and price_rows(collection) == 4


def test_a_server_that_keeps_failing_stores_nothing(collection: Collection, fake_api: tuple[FakeApi, str]) -> None:
    api, base = fake_api
    api.cards["sv1"] = priced_cards("sv1", 2)
    api.faults.append(lambda a, q: (500, {}, b"down"))
    api_source, waits = source(base)
    with pytest.raises(PriceError, match=r"HTTP 500 .*gave up after 6 attempts\); nothing was stored"):
        run_source(collection, api_source)
    assert len(waits) == 5 and price_rows(collection) == 0


def test_a_retry_after_too_long_to_wait_is_a_message(collection: Collection, fake_api: tuple[FakeApi, str]) -> None:
    api, base = fake_api
    api.faults.append(lambda a, q: (429, {"Retry-After": "3600"}, b""))
    api_source, waits = source(base)
    with pytest.raises(PriceError, match=r"asks to wait 3600 s .*try again later \(an API key raises the limit\)"):
        run_source(collection, api_source)
    assert waits == []


def test_malformed_json_on_a_later_page_stores_nothing(collection: Collection, fake_api: tuple[FakeApi, str]) -> None:
    api, base = fake_api
    api.cards["sv1"] = priced_cards("sv1", PAGE_SIZE + 1)
    api.faults.append(lambda a, q: (200, {}, b'{"data": [') if q["page"] == ["2"] else None)
    api_source, _ = source(base)
    with pytest.raises(PriceError, match=r"page=2.*not JSON.*nothing was stored"):
        run_source(collection, api_source)
    assert price_rows(collection) == 0


def test_a_page_without_cards_is_refused(collection: Collection, fake_api: tuple[FakeApi, str]) -> None:
    api, base = fake_api
    api.faults.append(lambda a, q: (200, {}, b'{"error": "nope"}'))
    with pytest.raises(PriceError, match=r"not a pokemontcg\.io card page"):
        run_source(collection, source(base)[0])


def test_a_wrong_api_key_is_named(collection: Collection, fake_api: tuple[FakeApi, str]) -> None:
    api, base = fake_api
    api.faults.append(lambda a, q: (403, {}, b"forbidden"))
    with pytest.raises(PriceError, match=r"HTTP 403.*check the API key"):
        run_source(collection, source(base)[0])


def test_nothing_listening_is_a_message(collection: Collection) -> None:
    with pytest.raises(PriceError, match="cannot reach"):
        run_source(collection, source("http://127.0.0.1:9/v2")[0])


def test_a_stale_price_is_counted_and_still_stored(collection: Collection, fake_api: tuple[FakeApi, str]) -> None:
    api, base = fake_api
    api.cards["sv1"] = priced_cards("sv1", 2) + priced_cards("old", 1, updated="2025/01/01")
    report = run_source(collection, source(base)[0])
    assert report.stale == 2 and report.oldest == "2025-01-01" and price_rows(collection) == 6


def test_a_card_without_prices_is_listed_as_unmatched(collection: Collection, fake_api: tuple[FakeApi, str]) -> None:
    api, base = fake_api
    api.cards["sv1"] = [*priced_cards("sv1", 1), {"id": "sv1-99", "name": "Energy"}]
    report = run_source(collection, source(base)[0])
    assert report.unmatched_count == 1 and report.unmatched == ["sv1-99 (Energy): no prices"]


def test_saved_pages_are_read_offline(collection: Collection, tmp_path: Path) -> None:
    (tmp_path / "p1.json").write_text(json.dumps({"data": priced_cards("sv1", 3)}))
    (tmp_path / "p2.json").write_text(json.dumps(priced_cards("sv2", 2)))  # a bare list of cards
    report = run_source(collection, PagesSource([tmp_path / "p1.json", tmp_path / "p2.json"], today=TODAY))
    assert len(report.cards) == 5 and price_rows(collection) == 10


def test_a_broken_saved_page_stores_nothing(collection: Collection, tmp_path: Path) -> None:
    (tmp_path / "good.json").write_text(json.dumps({"data": priced_cards("sv1", 3)}))
    (tmp_path / "bad.json").write_text('{"data": [{"id": "x"')
    with pytest.raises(PriceError, match=r"bad\.json is not JSON"):
        run_source(collection, PagesSource([tmp_path / "good.json", tmp_path / "bad.json"], today=TODAY))
    assert price_rows(collection) == 0


def test_a_bad_date_in_a_page_is_named(collection: Collection, tmp_path: Path) -> None:
    card = {"id": "sv1-1", "tcgplayer": {"updatedAt": "yesterday", "prices": {"normal": {"market": 1}}}}
    (tmp_path / "p.json").write_text(json.dumps([card]))
    with pytest.raises(PriceError, match=r"p\.json: 'yesterday' is not a date"):
        run_source(collection, PagesSource([tmp_path / "p.json"], today=TODAY))


def test_report_lists_at_most_fifty_unmatched_but_counts_all() -> None:
    report = Report("x")
    for i in range(60):
        report.miss(f"row {i}")
    assert report.unmatched_count == 60 and len(report.unmatched) == 50
    assert "… and 10 more unmatched" in report.summary()


def test_a_truncated_answer_stores_nothing(collection: Collection, fake_api: tuple[FakeApi, str]) -> None:
    api, base = fake_api
    api.faults.append(lambda a, q: (200, {"X-Announced-Length": "5000"}, b'{"data": []'))
    api_source, waits = source(base)
    with pytest.raises(PriceError, match=r"transfer broken \(got 11 of 5000 bytes\).*nothing was stored"):
        run_source(collection, api_source)
    assert price_rows(collection) == 0 and waits == [0.5, 1.0, 2.0, 4.0, 8.0]


def test_a_stalled_server_is_retried_then_named(collection: Collection, fake_api: tuple[FakeApi, str]) -> None:
    api, base = fake_api
    api.faults.append(lambda a, q: (200, {"X-Stall": "2"}, b'{"data": []}'))
    api_source, waits = source(base)
    api_source.timeout_s = 0.3
    with pytest.raises(PriceError, match=r"no answer within 0.3 s \(gave up after 6 attempts\)"):
        run_source(collection, api_source)
    assert len(waits) == 5


def test_a_stall_that_passes_is_retried_and_stores_the_prices(
    collection: Collection, fake_api: tuple[FakeApi, str]
) -> None:
    api, base = fake_api
    api.cards["sv1"] = priced_cards("sv1", 2)
    stalled = iter([True])
    api.faults.append(lambda a, q: (200, {"X-Stall": "1"}, b"{}") if next(stalled, False) else None)
    api_source, waits = source(base)
    api_source.timeout_s = 0.3
    report = run_source(collection, api_source)
    assert waits == [0.5] and len(report.cards) == 2 and price_rows(collection) == 4
