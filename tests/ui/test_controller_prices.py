"""The controller's session value: after each change, from the price service (a collection file's or
a shop server's); none (not zero) where the prices cannot be read."""

from __future__ import annotations

from pathlib import Path

from pytestqt.qtbot import QtBot

from app.config import Settings
from app.engine import Engine
from app.pipeline import ScanEvent
from app.prices.base import Quote
from app.prices.table import store_quotes
from tests.ui.conftest import replay
from ui.app import create_application, open_collection
from ui.controller import ScanController
from ui.price_service import ValueTotals


def test_a_correction_revalues_the_session(qtbot: QtBot, settings: Settings, engine_for: Engine) -> None:
    create_application()
    collection = open_collection(settings)
    store_quotes(
        collection,
        [
            Quote("sv5-123", "normal", "tcgplayer", "USD", "2026-12-01", 2.5),
            Quote("sv3pt5-6", "normal", "tcgplayer", "USD", "2026-12-01", 100.0),
        ],
    )
    controller = ScanController(
        engine_for, settings, collection, open_source=replay(Path("unused")), session_label="Intake", auto_add=True
    )
    values: list[ValueTotals | None] = []
    controller.session_value.connect(values.append)
    controller._on_event(ScanEvent(1.0, 1, "identified", "sv5-123", confidence=0.99))
    qtbot.waitUntil(lambda: bool(values) and values[-1] == ValueTotals(250, 1, 0, 0, ("tcgplayer",), "2026-12-01"))
    controller.correct_current("sv3pt5-6")  # the same count, another card: the value follows
    qtbot.waitUntil(lambda: values[-1] is not None and values[-1].value_cents == 10_000)
    controller.stop()
    collection.close()


def test_a_shop_servers_session_is_valued_from_the_server(
    qtbot: QtBot, settings: Settings, engine_for: Engine, tmp_path: Path
) -> None:
    from app.collection.open import open_collection as open_store
    from tests.collection.backends import empty_server_collection

    create_application()
    store = open_store(empty_server_collection(), kiosk="front", outbox=tmp_path / "outbox.db", background_sync=False)
    store_quotes(store, [Quote("sv5-123", "normal", "tcgplayer", "USD", "2026-12-01", 2.5)])
    controller = ScanController(
        engine_for, settings, store, open_source=replay(Path("unused")), session_label="Intake", auto_add=True
    )
    values: list[ValueTotals | None] = []
    controller.session_value.connect(values.append)
    controller._on_event(ScanEvent(1.0, 1, "identified", "sv5-123", confidence=0.99))
    qtbot.waitUntil(lambda: bool(values) and values[-1] == ValueTotals(250, 1, 0, 0, ("tcgplayer",), "2026-12-01"))
    controller.stop()
    store.close()


def test_an_away_shop_server_gives_no_session_value(
    qtbot: QtBot, settings: Settings, engine_for: Engine, tmp_path: Path
) -> None:
    from app.collection.open import open_collection as open_store

    create_application()
    store = open_store("postgresql://nobody@127.0.0.1:1/shop", outbox=tmp_path / "outbox.db", background_sync=False)
    controller = ScanController(
        engine_for, settings, store, open_source=replay(Path("unused")), session_label="Intake", auto_add=True
    )
    values: list[ValueTotals | None] = []
    controller.session_value.connect(values.append)
    controller.refresh_session_value()
    qtbot.waitUntil(lambda: values == [None], timeout=15_000)
    controller.stop()
    store.close()
