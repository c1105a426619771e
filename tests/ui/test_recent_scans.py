"""The recent-scans list: a model/view list whose rows stay put and never overlap."""

from __future__ import annotations

from pytestqt.qtbot import QtBot

from app.engine import Engine
from app.pipeline import ScanEvent
from app.session import ScanEntry
from ui.app import create_application
from ui.recent_scans import MAX_ROWS, EntryRole, RecentScansModel, RecentScansView, card_label


def entry(scan_id: int, card_id: str | None, kind: str = "identified") -> ScanEntry:
    event = ScanEvent(t=float(scan_id), track=scan_id, event=kind, card_id=card_id)  # type: ignore[arg-type]
    return ScanEntry(scan_id, event, card_id)


def test_a_new_scan_is_appended_and_the_selected_scan_stays_where_it_was(qtbot: QtBot, engine_for: Engine) -> None:
    create_application()
    model = RecentScansModel(engine_for.bundle)
    view = RecentScansView(model)
    qtbot.addWidget(view)
    view.resize(400, 130)
    view.show()
    model.upsert(entry(1, "sv5-123"))
    model.upsert(entry(2, "sv3pt5-6"))
    picked: list[ScanEntry] = []
    view.entry_selected.connect(picked.append)
    view.doItemsLayout()
    first = model.index(0)
    pointer = view.visualRect(first).center()
    view.clicked.emit(first)
    model.upsert(entry(3, None, "unknown"))  # a scan arrives after the click
    view.doItemsLayout()
    assert [e.scan_id for e in model.entries] == [1, 2, 3]
    assert view.indexAt(pointer).data(EntryRole).scan_id == 1  # nothing moved under the pointer
    assert [e.scan_id for e in picked] == [1]
    assert model.index(0).data(EntryRole).card_id == "sv5-123"


def test_text_only_scans_get_cells_of_their_own(qtbot: QtBot, engine_for: Engine) -> None:
    create_application()
    model = RecentScansModel(engine_for.bundle)
    view = RecentScansView(model)
    qtbot.addWidget(view)
    view.resize(600, 130)
    view.show()
    for scan_id in range(1, 4):
        model.upsert(entry(scan_id, None, "unknown" if scan_id % 2 else "card_back"))
    view.doItemsLayout()
    rects = [view.visualRect(model.index(r)) for r in range(3)]
    assert all(not a.intersects(b) for i, a in enumerate(rects) for b in rects[i + 1 :])
    assert model.index(0).data() == "Not in the catalogue" and model.index(1).data() == "Card back"


def test_a_scan_shown_again_is_updated_in_place_and_the_list_is_bounded(engine_for: Engine) -> None:
    create_application()
    model = RecentScansModel(engine_for.bundle)
    first = entry(1, "sv5-123")
    model.upsert(first)
    first.added = True
    model.upsert(first)
    assert len(model.entries) == 1 and str(model.index(0).data()).startswith("✓ ")
    for scan_id in range(2, MAX_ROWS + 5):
        model.upsert(entry(scan_id, "sv5-123"))
    assert len(model.entries) == MAX_ROWS and model.entries[-1].scan_id == MAX_ROWS + 4


def test_a_card_is_named_as_a_collector_says_it(engine_for: Engine) -> None:
    meta = engine_for.bundle.metadata["sv3pt5-25"]
    assert card_label(engine_for.bundle, "sv3pt5-25") == f"{meta['name']} (151 25/{meta['printed_total']})"
