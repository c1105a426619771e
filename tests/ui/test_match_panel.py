"""The match panel's price line: the shown card's market price in the chosen finish, with source and
date, read off the GUI thread; what to run when there is none."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from app.collection.store import Collection
from app.config import Settings
from app.match.bundle import ReferenceBundle
from app.pipeline import ScanEvent
from app.prices.base import Quote
from app.prices.table import store_quotes
from app.session import ScanEntry
from ui.app import create_application
from ui.match_panel import PRICE_PENDING, MatchPanel
from ui.price_service import NOT_A_FILE, PriceService

CARD = "sv5-123"


@pytest.fixture(scope="module")
def bundle() -> ReferenceBundle:
    from app.config import load_settings

    return ReferenceBundle.load(load_settings().match.bundle, verify_checksums=False)


@pytest.fixture
def priced(settings: Settings) -> Iterator[Collection]:
    collection = Collection(settings.collection.db, synchronous="NORMAL")
    store_quotes(
        collection,
        [
            Quote(CARD, "holo", "tcgplayer", "USD", "2026-11-20", 10.0),
            Quote(CARD, "holo", "tcgplayer", "USD", "2026-12-01", 12.34),
            Quote(CARD, "reverse holo", "cardmarket", "USD", "2026-11-30", 3.5),
            Quote(CARD, "holo", "cardmarket", "EUR", "2026-12-02", 9.99),
        ],
    )
    yield collection
    collection.close()


def panel_with(qtbot: QtBot, bundle: ReferenceBundle, prices: PriceService) -> MatchPanel:
    create_application()
    panel = MatchPanel(bundle, prices=prices)
    qtbot.addWidget(panel)
    return panel


def identified(card_id: str, scan_id: int = 1) -> ScanEntry:
    return ScanEntry(scan_id, ScanEvent(0.0, scan_id, "identified", card_id, confidence=0.97), card_id)


def shown_price(qtbot: QtBot, panel: MatchPanel) -> str:
    qtbot.waitUntil(lambda: panel.price.text() != PRICE_PENDING, timeout=5_000)
    return panel.price.text()


def test_the_price_follows_the_finish_chosen(qtbot: QtBot, bundle: ReferenceBundle, priced: Collection) -> None:
    prices = PriceService(priced, "USD")
    panel = panel_with(qtbot, bundle, prices)
    panel.finish.setCurrentText("holo")
    panel.show_entry(identified(CARD))
    assert shown_price(qtbot, panel) == "Market price (holo): 12.34 USD · tcgplayer, 2026-12-01"
    panel.finish.setCurrentText("reverse holo")
    assert shown_price(qtbot, panel) == "Market price (reverse holo): 3.50 USD · cardmarket, 2026-11-30"
    panel.finish.setCurrentText("normal")
    assert shown_price(qtbot, panel) == "No USD price for normal — run `cardsight prices update`"
    prices.close()


def test_the_currency_setting_picks_the_prices_shown(qtbot: QtBot, bundle: ReferenceBundle, priced: Collection) -> None:
    prices = PriceService(priced, "EUR")
    panel = panel_with(qtbot, bundle, prices)
    panel.finish.setCurrentText("holo")
    panel.show_entry(identified(CARD))
    assert shown_price(qtbot, panel) == "Market price (holo): 9.99 EUR · cardmarket, 2026-12-02"
    prices.close()


def test_a_card_without_any_price_says_what_to_run(qtbot: QtBot, bundle: ReferenceBundle, priced: Collection) -> None:
    prices = PriceService(priced, "USD")
    panel = panel_with(qtbot, bundle, prices)
    panel.finish.setCurrentText("holo")
    other = next(c for c in bundle.metadata if c != CARD)
    panel.show_entry(identified(other))
    assert shown_price(qtbot, panel) == "No USD price for holo — run `cardsight prices update`"
    panel.clear_entry()
    assert panel.price.text() == ""
    prices.close()


def test_an_answer_for_a_card_no_longer_shown_is_ignored(
    qtbot: QtBot, bundle: ReferenceBundle, priced: Collection
) -> None:
    prices = PriceService(priced, "USD")
    panel = panel_with(qtbot, bundle, prices)
    panel.finish.setCurrentText("holo")
    seen: list[str] = []
    prices.answered.connect(lambda *_: seen.append(panel.price.text()))  # after the panel's own slot
    panel.show_entry(identified(CARD, 1))
    prices._waiting["price"].result(timeout=5)  # answered on the worker, not yet delivered here
    other = next(c for c in bundle.metadata if c != CARD)
    panel.show_entry(identified(other, 2))
    qtbot.waitUntil(lambda: len(seen) == 2, timeout=5_000)
    assert seen == [PRICE_PENDING, "No USD price for holo — run `cardsight prices update`"]
    prices.close()


def test_a_collection_without_a_file_says_it_has_no_prices(qtbot: QtBot, bundle: ReferenceBundle) -> None:
    prices = PriceService(object(), "USD")
    panel = panel_with(qtbot, bundle, prices)
    panel.show_entry(identified(CARD))
    assert panel.price.text() == f"No price: {NOT_A_FILE}"
    prices.close()


def test_a_damaged_collection_file_is_one_line_not_a_traceback(
    qtbot: QtBot, bundle: ReferenceBundle, tmp_path: Path
) -> None:
    path = tmp_path / "damaged.db"
    collection = Collection(path, synchronous="NORMAL")
    prices = PriceService(collection, "USD")
    collection.close()
    path.write_bytes(b"this is not a database" * 100)
    panel = panel_with(qtbot, bundle, prices)
    panel.show_entry(identified(CARD))
    assert shown_price(qtbot, panel).startswith("No price: cannot read prices:")
    assert "\n" not in panel.price.text()
    prices.close()
