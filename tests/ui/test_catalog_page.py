"""The Catalogue page: every set with its status, filtering, searching any card, adding one by hand,
and downloading / removing sets on a worker thread (against a real local HTTP server)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

import app.catalog.download as download_module
from app.catalog.build import build_bundle
from app.catalog.database import CatalogDatabase, default_catalog
from app.collection.store import Collection
from app.config import Settings
from app.embed.base import EmbedderBackend
from app.engine import make_embedder
from app.match.bundle import ReferenceBundle
from tests.catalog.image_server import ImageHost, ImageServer, catalogue_with_cards
from tests.catalog_copy import small_catalog
from ui.app import create_application
from ui.catalog_page import (
    DOWNLOADED,
    NOT_INSTALLED,
    SHIPPED,
    CatalogPage,
    JobResult,
    ReferenceSets,
    SetOutcome,
    describe_result,
    eta_text,
    installed_summary,
)

SHIPPED_BUNDLE = Path(__file__).resolve().parents[2] / "reference" / "default"
#: The set the download tests fetch, restricted to a few cards (a copy of the catalogue database).
SET = "xy12"
SET_CARDS = [f"{SET}-{n}" for n in (1, 2, 3)]
#: Nothing listens here: a download from it is what a machine without network sees.
UNREACHABLE = "http://127.0.0.1:9"


@pytest.fixture
def collection(tmp_path: Path) -> Collection:
    return Collection(tmp_path / "collection.db", synchronous="NORMAL")


def make_page(
    qtbot: QtBot, collection: Collection, settings: Settings, sets_dir: Path, **options: object
) -> CatalogPage:
    create_application()
    catalog = default_catalog()
    sets = ReferenceSets(SHIPPED_BUNDLE, sets_dir=sets_dir, catalog=catalog, **options)  # type: ignore[arg-type]

    def embedder() -> EmbedderBackend:
        return make_embedder(settings, live=False)

    page = CatalogPage(collection, sets, catalog, embedder)
    qtbot.addWidget(page)
    return page


def row_of(page: CatalogPage, set_id: str) -> list[object]:
    model = page.model
    for row in range(model.rowCount()):
        if model.data(model.index(row, 0)) == set_id:
            return [model.data(model.index(row, column)) for column in range(model.columnCount())]
    raise AssertionError(f"{set_id} not listed")


def shown_set_ids(page: CatalogPage) -> set[str]:
    return {str(page.proxy.data(page.proxy.index(r, 0))) for r in range(page.proxy.rowCount())}


def test_every_set_is_listed_with_series_release_date_card_count_and_status(
    qtbot: QtBot, collection: Collection, settings: Settings, tmp_path: Path
) -> None:
    page = make_page(qtbot, collection, settings, tmp_path / "sets")
    catalog = default_catalog()
    assert page.model.rowCount() == len(catalog.sets()) == 170
    assert row_of(page, "base1") == ["base1", "Base", "Base", "1999/01/09", 102, NOT_INSTALLED]
    assert row_of(page, "xy12")[1:] == ["Evolutions", "XY", "2016/11/02", 113, SHIPPED]
    assert {s for s, status in page.status_by_set.items() if status == SHIPPED} == {"sv3pt5", "sv5", "xy12"}
    assert page.summary.text().startswith("170 sets (170 shown) · the scanner knows the pictures of 3 sets, 538 cards")


def test_the_filter_matches_names_codes_series_and_status(
    qtbot: QtBot, collection: Collection, settings: Settings, tmp_path: Path
) -> None:
    page = make_page(qtbot, collection, settings, tmp_path / "sets")
    page.filter.setText("evolutions")
    assert shown_set_ids(page) == {"xy12", "sv8pt5"}  # Evolutions and Prismatic Evolutions
    page.filter.setText(SHIPPED)
    assert shown_set_ids(page) == {"sv3pt5", "sv5", "xy12"}
    page.filter.setText("base1")
    assert shown_set_ids(page) == {"base1"}
    assert "(1 shown)" in page.summary.text()
    page.filter.setText("")
    assert page.proxy.rowCount() == 170


def test_download_is_offered_for_sets_not_installed_and_remove_only_for_downloaded_ones(
    qtbot: QtBot, collection: Collection, settings: Settings, tmp_path: Path
) -> None:
    page = make_page(qtbot, collection, settings, tmp_path / "sets")
    page.select_sets(["xy12"])
    assert page.selected_set_ids() == ["xy12"]
    assert not page.download_button.isEnabled() and not page.remove_button.isEnabled()
    page.select_sets(["base1", "xy12"])
    assert sorted(page.selected_set_ids()) == ["base1", "xy12"]
    assert page.download_button.isEnabled() and not page.remove_button.isEnabled()


def test_search_finds_any_card_by_name_number_and_set_code(
    qtbot: QtBot, collection: Collection, settings: Settings, tmp_path: Path
) -> None:
    page = make_page(qtbot, collection, settings, tmp_path / "sets")
    page.search.setText("charizard 4/102")
    page.run_search()
    first = page.results.item(0)
    assert first.data(Qt.ItemDataRole.UserRole) == "base1-4"
    assert first.text() == "Charizard — Base 4/102 · Rare Holo · picture not installed"
    page.search.setText("TG05")
    page.run_search()
    numbers = {page.results.item(i).data(Qt.ItemDataRole.UserRole).split("-")[1] for i in range(page.results.count())}
    assert numbers == {"TG05"}
    page.search.setText("EVO 1")
    page.run_search()
    assert page.results.item(0).data(Qt.ItemDataRole.UserRole) == "xy12-1"
    assert "picture not installed" not in page.results.item(0).text()
    page.search.setText("no such card anywhere")
    page.run_search()
    assert page.results.count() == 1 and page.results.item(0).text().startswith("No card matches")
    assert page.selected_card() is None and not page.add_button.isEnabled()


def test_a_card_from_a_set_not_installed_is_added_by_hand_with_finish_condition_and_quantity(
    qtbot: QtBot, collection: Collection, settings: Settings, tmp_path: Path
) -> None:
    page = make_page(qtbot, collection, settings, tmp_path / "sets")
    added: list[str] = []
    page.card_added.connect(added.append)
    page.search.setText("charizard 4/102")
    page.run_search()
    page.finish.setCurrentText("holo")
    page.condition.setCurrentText("LP")
    page.quantity.setValue(2)
    assert page.add_button.isEnabled()
    qtbot.mouseClick(page.add_button, Qt.MouseButton.LeftButton)
    rows = collection.inventory()
    assert [(r["card_id"], r["finish"], r["condition"], r["language"], r["quantity"]) for r in rows] == [
        ("base1-4", "holo", "LP", "English", 2)
    ]
    assert rows[0]["name"] == "Charizard"
    assert added == ["Added 2 × Charizard (Base 4/102) to the collection"]
    collection.undo(1)
    assert collection.inventory() == []


def test_a_card_the_collection_refuses_is_a_message_not_an_exception(
    qtbot: QtBot, tmp_path: Path, settings: Settings
) -> None:
    collection = Collection(tmp_path / "c.db", synchronous="NORMAL")
    page = make_page(qtbot, collection, settings, tmp_path / "sets")
    messages: list[str] = []
    page.status_message.connect(messages.append)
    page.search.setText("charizard 4/102")
    page.run_search()
    collection.close()  # the database went away under the page
    assert not page.add_selected_card()
    assert messages and messages[-1].startswith("Not added:")


def test_without_a_readable_catalogue_the_page_says_why_and_offers_nothing_to_click(
    qtbot: QtBot, collection: Collection, settings: Settings, tmp_path: Path
) -> None:
    create_application()
    message = "The card catalogue cannot be read: no catalogue database at /nowhere/catalog.sqlite"
    sets = ReferenceSets(SHIPPED_BUNDLE, sets_dir=tmp_path / "sets")
    page = CatalogPage(collection, sets, None, lambda: make_embedder(settings, live=False), catalog_error=message)
    qtbot.addWidget(page)
    page.show()
    assert page.error.text() == message and page.error.isVisible()
    assert page.model.rowCount() == 0
    page.search.setText("charizard")
    page.run_search()
    assert page.results.count() == 0 and not page.add_selected_card()
    assert not page.download_button.isEnabled() and not page.remove_button.isEnabled()


def test_the_summary_of_a_job_names_every_failure_and_its_reason() -> None:
    result = JobResult(
        outcomes=(SetOutcome("base1", downloaded=98, already_had=0, embedded=98, failed=(("base1-4", "HTTP 404"),)),),
        cancelled=True,
    )
    text = describe_result("download", result)
    assert text.splitlines() == [
        "base1: 98 card pictures installed (98 downloaded, 0 already here), 1 failed — base1-4: HTTP 404",
        "Cancelled: what was already verified is kept; download again to finish.",
    ]
    assert describe_result("download", JobResult(error="no network")) == "Nothing changed: no network"
    assert describe_result("remove", JobResult(removed=("base1",))) == "Removed base1."
    assert eta_text(None) == eta_text(0.0) == ""
    assert eta_text(12.4) == "about 12 s left" and eta_text(150) == "about 2 min left"


def test_cards_never_asked_for_because_the_host_was_given_up_are_summed_up_once() -> None:
    failed = (
        ("base1-1", "cannot reach images.pokemontcg.io (https://images.pokemontcg.io/base1/1_hires.png)"),
        *((f"base1-{n}", "not tried: cannot reach images.pokemontcg.io") for n in range(2, 102)),
    )
    result = JobResult(outcomes=(SetOutcome("base1", downloaded=0, already_had=0, embedded=0, failed=failed),))
    first = describe_result("download", result).splitlines()[0]
    assert first.endswith(
        "101 failed — base1-1: cannot reach images.pokemontcg.io (https://images.pokemontcg.io/base1/1_hires.png); "
        "100 not tried: cannot reach images.pokemontcg.io"
    )


def test_the_installed_sets_are_named_for_the_welcome() -> None:
    catalog: CatalogDatabase = default_catalog()
    status = {"sv3pt5": SHIPPED, "sv5": SHIPPED, "xy12": SHIPPED, "base1": DOWNLOADED}
    assert installed_summary(catalog, status) == "151, Base, Evolutions and Temporal Forces"
    assert installed_summary(catalog, {"xy12": SHIPPED}) == "Evolutions"
    assert installed_summary(catalog, {}) == ""


# ---------------------------------------------------------------------------- download and remove


@pytest.fixture(scope="module")
def small_shipped(tmp_path_factory: pytest.TempPathFactory, catalog_dir: Path) -> Path:
    """A stand-in for the shipped bundle: two real scans of 151 (so Evolutions is not installed)."""
    from app.config import load_settings

    folder = tmp_path_factory.mktemp("shipped")
    cards = small_catalog(catalog_dir, folder / "catalogue", per_set=2, sets=("sv3pt5",))
    embedder = make_embedder(load_settings(), live=False)
    try:
        path = build_bundle(cards, folder / "bundle", embedder).bundle.path
    finally:
        embedder.close()
    assert path is not None
    return path


@pytest.fixture
def few_cards(tmp_path: Path) -> Iterator[CatalogDatabase]:
    db = CatalogDatabase.open(catalogue_with_cards(tmp_path / "catalog.sqlite", {SET: SET_CARDS}))
    yield db
    db.close()


@pytest.fixture
def image_server(catalog_dir: Path) -> Iterator[ImageServer]:
    with ImageServer(ImageHost(catalog_dir / "images")) as running:
        yield running


def download_page(
    qtbot: QtBot,
    collection: Collection,
    settings: Settings,
    tmp_path: Path,
    shipped: Path,
    catalog: CatalogDatabase,
    image_base: str,
) -> CatalogPage:
    create_application()
    sets = ReferenceSets(
        shipped, sets_dir=tmp_path / "sets", cache_dir=tmp_path / "images", image_base=image_base, catalog=catalog
    )
    page = CatalogPage(collection, sets, catalog, lambda: make_embedder(settings, live=False))
    # A test that fails mid-download must not leave the job's thread running.
    qtbot.addWidget(page, before_close_func=lambda widget: widget.shutdown())
    page.show()
    return page


def run_job(qtbot: QtBot, page: CatalogPage, start: str) -> list[ReferenceBundle]:
    """Start "download" or "remove" on the selected sets and wait for its end; the new reference data."""
    changed: list[ReferenceBundle] = []
    page.reference_changed.connect(changed.append)
    button = page.download_button if start == "download" else page.remove_button
    assert button.isEnabled()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert page.busy and page.cancel_button.isVisible() and not page.download_button.isEnabled()
    qtbot.waitUntil(lambda: not page.busy, timeout=120_000)
    return changed


def test_a_set_downloaded_from_the_image_host_is_installed_and_reaches_the_scanner_then_removed(
    qtbot: QtBot,
    collection: Collection,
    settings: Settings,
    tmp_path: Path,
    small_shipped: Path,
    few_cards: CatalogDatabase,
    image_server: ImageServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    graph_bundles: list[object] = []
    refresh = download_module.refresh_search_graph

    def refresh_and_note(shipped: Path | None = None, *args: Any, **kwargs: Any) -> None:
        graph_bundles.append(shipped)
        refresh(shipped, *args, **kwargs)

    monkeypatch.setattr(download_module, "refresh_search_graph", refresh_and_note)
    page = download_page(qtbot, collection, settings, tmp_path, small_shipped, few_cards, image_server.base)
    labels: list[str] = []
    page.job_progress_text.connect(labels.append)
    assert page.status_by_set == {"sv3pt5": SHIPPED}
    page.select_sets([SET])
    changed = run_job(qtbot, page, "download")
    assert page.report.text() == f"{SET}: 3 card pictures installed (3 downloaded, 0 already here)"
    assert page.status_by_set[SET] == DOWNLOADED and row_of(page, SET)[-1] == DOWNLOADED
    assert f"Downloading {SET}: 3/3" in labels
    assert any(label.startswith(f"Learning the pictures of {SET}") for label in labels)
    assert len(changed) == 1 and set(SET_CARDS) <= set(changed[0].card_ids())
    assert "sv3pt5-1" in changed[0].card_ids()
    assert len(image_server.host.requests) == 3  # one image each, no retries

    page.select_sets([SET])
    assert page.remove_button.isEnabled()
    changed = run_job(qtbot, page, "remove")
    assert page.report.text() == f"Removed {SET}."
    assert page.status_by_set.get(SET, NOT_INSTALLED) == NOT_INSTALLED
    assert len(changed) == 1 and not set(SET_CARDS) & set(changed[0].card_ids())
    assert graph_bundles == [small_shipped, small_shipped]  # the graph of the bundle this page scans with


def test_without_network_a_download_says_so_and_the_page_keeps_working(
    qtbot: QtBot,
    collection: Collection,
    settings: Settings,
    tmp_path: Path,
    small_shipped: Path,
    few_cards: CatalogDatabase,
) -> None:
    page = download_page(qtbot, collection, settings, tmp_path, small_shipped, few_cards, UNREACHABLE)
    page.select_sets([SET])
    run_job(qtbot, page, "download")
    report = page.report.text()
    assert report.startswith(f"{SET}: 0 card pictures installed (0 downloaded, 0 already here), 3 failed — ")
    assert report.splitlines()[-1] == (
        "No card picture could be fetched: is this computer online? The sets already installed keep working."
    )
    assert page.status_by_set.get(SET, NOT_INSTALLED) == NOT_INSTALLED
    assert not (tmp_path / "sets" / SET).exists()
    # Nothing broke: the list, the search and adding by hand still work.
    page.search.setText("venusaur evo")
    page.run_search()
    assert page.selected_card() is not None and page.add_selected_card()
    assert [r["card_id"] for r in collection.inventory()] == ["xy12-1"]


def test_a_cancelled_download_installs_nothing_and_says_what_is_kept(
    qtbot: QtBot,
    collection: Collection,
    settings: Settings,
    tmp_path: Path,
    small_shipped: Path,
    few_cards: CatalogDatabase,
    image_server: ImageServer,
) -> None:
    page = download_page(qtbot, collection, settings, tmp_path, small_shipped, few_cards, image_server.base)
    page.select_sets([SET])
    qtbot.mouseClick(page.download_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(page.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not page.busy, timeout=60_000)
    assert page.report.text().endswith("Cancelled: what was already verified is kept; download again to finish.")
    assert page.status_by_set.get(SET, NOT_INSTALLED) == NOT_INSTALLED


def test_closing_the_page_during_a_download_stops_it_within_the_wait(
    qtbot: QtBot,
    collection: Collection,
    settings: Settings,
    tmp_path: Path,
    small_shipped: Path,
    few_cards: CatalogDatabase,
    image_server: ImageServer,
) -> None:
    page = download_page(qtbot, collection, settings, tmp_path, small_shipped, few_cards, image_server.base)
    page.select_sets([SET])
    page.download_selected()
    thread = page.job_thread
    assert thread is not None and thread.isRunning()
    assert page.shutdown(timeout_s=30.0)
    assert not thread.isRunning()


# ---------------------------------------------------------------------------- a job outliving its page

#: A job busy in a step that does not look at its cancel (an embedding batch, a native call), run
#: while its page is closed and deleted: the process must not abort ("QThread: Destroyed while
#: thread is still running").
OUTLIVED_PAGE = """
import time
from pathlib import Path
from ui.app import create_application
from ui.catalog_page import CatalogPage, ReferenceSets
from PySide6.QtCore import QCoreApplication, QEvent

class OneLongStep(ReferenceSets):
    def status(self):
        return {}
    def download(self, set_ids, embedder, progress, cancel):
        time.sleep(2.0)
        return []
    def load(self, embedder):
        raise OSError("nothing to load")

class Recogniser:
    def close(self):
        pass

app = create_application()
page = CatalogPage(None, OneLongStep(Path("no-bundle")), None, Recogniser)
page._start("download", ["base1"])
print("stopped in time:", page.shutdown(timeout_s=0.2), flush=True)
page.deleteLater()
del page
QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
print("page deleted", flush=True)
"""


def test_a_job_outliving_its_deleted_page_does_not_abort_the_process(tmp_path: Path) -> None:
    script = tmp_path / "outlived_page.py"
    script.write_text(OUTLIVED_PAGE)
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(root)}
    done = subprocess.run(
        [sys.executable, str(script)], cwd=root, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "stopped in time: False" in done.stdout and "page deleted" in done.stdout
    assert "Destroyed while thread" not in done.stderr
