from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from app import PROJECT_ROOT
from app.catalog.build import build_bundle, canonical_card_image, reference_views
from app.catalog.database import CatalogDatabase, open_catalog
from app.catalog.install import (
    InstallCancelled,
    install_set,
    installed_sets_dir,
    is_safe_id,
    present_sets,
    refresh_search_graph,
    remove_set,
)
from app.embed.onnx_backend import OnnxEmbedder
from app.match.matcher import Matcher
from app.match.shards import load_reference
from tests.catalog_copy import small_catalog
from tests.conftest import CATALOG

MODEL = PROJECT_ROOT / "models" / "lite0_imagenet.onnx"
SET = "xy12"
CARDS = [f"{SET}-{n}" for n in (1, 2, 3, 4)]


@pytest.fixture(scope="module")
def embedder() -> OnnxEmbedder:
    return OnnxEmbedder(MODEL, threads=2)


@pytest.fixture(scope="module")
def catalog() -> CatalogDatabase:
    return open_catalog()


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory, embedder: OnnxEmbedder) -> Path:
    """A small stand-in for the shipped bundle: two real scans of another set."""
    if not CATALOG.is_dir():
        pytest.fail(f"shared scans missing at {CATALOG}")
    folder = tmp_path_factory.mktemp("shipped")
    cards = small_catalog(CATALOG, folder / "catalogue", per_set=2, sets=("sv3pt5",))
    return build_bundle(cards, folder / "bundle", embedder).bundle.path  # type: ignore[return-value]


def scans(*card_ids: str) -> dict[str, Path]:
    return {card_id: CATALOG / "images" / SET / f"{card_id}.jpg" for card_id in card_ids}


def install(embedder: OnnxEmbedder, catalog: CatalogDatabase, shipped: Path, sets_dir: Path, **kwargs: object) -> None:
    report = install_set(SET, scans(*CARDS), embedder, catalog, sets_dir=sets_dir, shipped=shipped, **kwargs)  # type: ignore[arg-type]
    assert (report.embedded, report.skipped) == (len(CARDS), [])


def a_photo_of(card_id: str, embedder: OnnxEmbedder) -> np.ndarray:
    """The card's scan as a camera might see it (a variant the install did not embed)."""
    scan = canonical_card_image(CATALOG / "images" / SET / f"{card_id}.jpg")
    return embedder.embed(reference_views(scan, 2, seed=12345)[1:])


def test_an_installed_set_joins_the_shipped_bundle_and_a_real_scan_matches_its_card(
    embedder: OnnxEmbedder, catalog: CatalogDatabase, shipped: Path, tmp_path: Path
) -> None:
    progress: list[tuple[int, int]] = []
    install(embedder, catalog, shipped, tmp_path / "sets", progress=lambda done, total: progress.append((done, total)))
    assert progress[0] == (0, 4) and progress[-1] == (4, 4)
    bundle = load_reference(shipped, tmp_path / "sets", embedder.model_sha256, embedder.dim)
    assert bundle.problems == []
    assert set(CARDS) <= set(bundle.card_ids()) and "sv3pt5-1" in bundle.card_ids()
    assert bundle.metadata["xy12-1"]["name"] == "Venusaur-EX"
    assert bundle.metadata["xy12-1"]["printed_total"] == 108
    assert {s.id for s in bundle.manifest.sets} == {"sv3pt5", SET}
    assert bundle.thumb_path("xy12-3") == tmp_path / "sets" / SET / "thumbs" / "xy12-3.jpg"
    for exact_below in (10_000, 1):  # exact product, then the cached graph
        hits = Matcher(bundle, exact_below=exact_below).search(a_photo_of("xy12-3", embedder), k=3)[0]
        assert hits[0][0] == "xy12-3", hits


def test_installed_vectors_are_stored_as_int8_and_read_back_within_rounding(
    embedder: OnnxEmbedder, catalog: CatalogDatabase, shipped: Path, tmp_path: Path
) -> None:
    install(embedder, catalog, shipped, tmp_path / "sets")
    shard = tmp_path / "sets" / SET
    assert np.load(shard / "embeddings.npy").dtype == np.int8
    bundle = load_reference(shipped, tmp_path / "sets", embedder.model_sha256, embedder.dim)
    rows = [i for i, card_id in enumerate(bundle.row_card_ids) if card_id == "xy12-2"]
    scan = canonical_card_image(CATALOG / "images" / SET / "xy12-2.jpg")
    exact = embedder.embed([scan])[0]
    assert float(bundle.embeddings[np.array(rows[:1])][0] @ exact) > 0.999


def test_removing_a_set_takes_its_cards_away(
    embedder: OnnxEmbedder, catalog: CatalogDatabase, shipped: Path, tmp_path: Path
) -> None:
    sets_dir = tmp_path / "sets"
    install(embedder, catalog, shipped, sets_dir)
    assert present_sets(shipped, sets_dir).installed == {"sv3pt5", SET}
    assert remove_set(SET, sets_dir=sets_dir, shipped=shipped)
    assert not remove_set(SET, sets_dir=sets_dir, shipped=shipped)
    assert present_sets(shipped, sets_dir).installed == {"sv3pt5"}
    bundle = load_reference(shipped, sets_dir, embedder.model_sha256, embedder.dim)
    assert not set(CARDS) & set(bundle.card_ids())
    assert not (sets_dir.with_name("sets.index")).exists()


def test_a_crash_while_reinstalling_leaves_the_previous_install(
    embedder: OnnxEmbedder, catalog: CatalogDatabase, shipped: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sets_dir = tmp_path / "sets"
    install(embedder, catalog, shipped, sets_dir)

    def power_cut(folder: Path) -> None:
        raise OSError("power cut while writing")

    monkeypatch.setattr("app.match.bundle._fsync_tree", power_cut)
    with pytest.raises(OSError, match="power cut"):
        install_set(SET, scans("xy12-1"), embedder, catalog, sets_dir=sets_dir, shipped=shipped)
    assert sorted(p.name for p in sets_dir.iterdir()) == [SET]
    bundle = load_reference(shipped, sets_dir, embedder.model_sha256, embedder.dim)
    assert bundle.problems == [] and set(CARDS) <= set(bundle.card_ids())


def test_cancelling_an_install_writes_nothing(
    embedder: OnnxEmbedder, catalog: CatalogDatabase, shipped: Path, tmp_path: Path
) -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(InstallCancelled):
        install_set(SET, scans(*CARDS), embedder, catalog, sets_dir=tmp_path / "sets", shipped=shipped, cancel=cancel)
    assert present_sets(shipped, tmp_path / "sets").installed == {"sv3pt5"}


def test_a_set_built_with_another_model_is_left_out_naming_it_and_how_to_reinstall(
    embedder: OnnxEmbedder, catalog: CatalogDatabase, shipped: Path, tmp_path: Path
) -> None:
    sets_dir = tmp_path / "sets"
    install(embedder, catalog, shipped, sets_dir)
    manifest_path = sets_dir / SET / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["model_sha256"] = "f" * 64
    manifest_path.write_text(json.dumps(manifest))
    bundle = load_reference(shipped, sets_dir, embedder.model_sha256, embedder.dim)
    assert len(bundle.problems) == 1
    problem = bundle.problems[0]
    assert problem.startswith("Installed set xy12 is left out") and "running model" in problem
    assert "cardsight catalog download xy12" in problem and "\n" not in problem
    assert not set(CARDS) & set(bundle.card_ids())
    assert "sv3pt5-1" in bundle.card_ids()


def test_a_damaged_installed_set_is_left_out_and_the_rest_still_scans(
    embedder: OnnxEmbedder, catalog: CatalogDatabase, shipped: Path, tmp_path: Path
) -> None:
    sets_dir = tmp_path / "sets"
    install(embedder, catalog, shipped, sets_dir)
    shutil.copytree(sets_dir / SET, tmp_path / "good")
    with open(sets_dir / SET / "embeddings.npy", "r+b") as handle:
        handle.seek(300)
        handle.write(bytes(range(200)))
    bundle = load_reference(shipped, sets_dir, embedder.model_sha256, embedder.dim)
    assert len(bundle.problems) == 1
    assert "embeddings.npy" in bundle.problems[0] and "cardsight catalog download xy12" in bundle.problems[0]
    assert "catalog build" not in bundle.problems[0] and "\n" not in bundle.problems[0]
    assert bundle.card_ids() == ["sv3pt5-1", "sv3pt5-2"]
    hits = Matcher(bundle).search(a_photo_of("xy12-3", embedder), k=3)[0]
    assert {card_id for card_id, _ in hits} <= {"sv3pt5-1", "sv3pt5-2"}


def test_cards_of_other_sets_and_unreadable_images_are_skipped_with_the_reason(
    embedder: OnnxEmbedder, catalog: CatalogDatabase, shipped: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "xy12-2.jpg"
    broken.write_bytes(b"\xff\xd8\xff not a jpeg")
    images = {**scans("xy12-1"), "xy12-2": broken, "sv5-1": CATALOG / "images" / "sv5" / "sv5-1.jpg"}
    report = install_set(SET, images, embedder, catalog, sets_dir=tmp_path / "sets", shipped=shipped)
    skipped = dict(report.skipped)
    assert report.embedded == 1 and set(skipped) == {"xy12-2", "sv5-1"}
    assert "not a card of set xy12" in skipped["sv5-1"]
    bundle = load_reference(shipped, tmp_path / "sets", embedder.model_sha256, embedder.dim)
    assert "xy12-1" in bundle.card_ids() and "xy12-2" not in bundle.card_ids()


def test_an_unknown_set_is_refused(embedder: OnnxEmbedder, catalog: CatalogDatabase, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="Unknown set 'nope'"):
        install_set("nope", {}, embedder, catalog, sets_dir=tmp_path / "sets")
    assert not remove_set("../etc", sets_dir=tmp_path / "sets")


def test_installed_sets_live_in_the_user_data_folder(private_data_home: Path) -> None:
    assert installed_sets_dir() == private_data_home / "cardsight" / "sets"


def test_a_damaged_thumbnail_of_an_installed_set_is_not_shown_and_the_set_still_loads(
    embedder: OnnxEmbedder, catalog: CatalogDatabase, shipped: Path, tmp_path: Path
) -> None:
    sets_dir = tmp_path / "sets"
    install(embedder, catalog, shipped, sets_dir)
    thumb = sets_dir / SET / "thumbs" / "xy12-2.jpg"
    thumb.write_bytes(thumb.read_bytes()[:-40] + bytes(40))
    bundle = load_reference(shipped, sets_dir, embedder.model_sha256, embedder.dim)
    assert bundle.problems == [] and "xy12-2" in bundle.card_ids()
    assert bundle.thumb_path("xy12-2") is None
    assert bundle.thumb_path("xy12-1") == sets_dir / SET / "thumbs" / "xy12-1.jpg"


def test_installing_many_sets_can_build_the_search_graph_once_at_the_end(
    embedder: OnnxEmbedder, catalog: CatalogDatabase, shipped: Path, tmp_path: Path
) -> None:
    sets_dir = tmp_path / "sets"
    install(embedder, catalog, shipped, sets_dir, refresh_graph=False)
    assert not sets_dir.with_name("sets.index").exists()
    refresh_search_graph(shipped, sets_dir, embedder.model_sha256, embedder.dim, exact_below=1)
    bundle = load_reference(shipped, sets_dir, embedder.model_sha256, embedder.dim)
    assert bundle.index_cache is not None and bundle.index_cache.is_file()
    assert len(bundle.index) == len(set(bundle.row_card_ids))  # one node per card


def test_a_cancelled_graph_refresh_caches_no_graph(
    embedder: OnnxEmbedder, catalog: CatalogDatabase, shipped: Path, tmp_path: Path
) -> None:
    sets_dir = tmp_path / "sets"
    install(embedder, catalog, shipped, sets_dir, refresh_graph=False)
    cancel = threading.Event()
    cancel.set()
    refresh_search_graph(shipped, sets_dir, embedder.model_sha256, embedder.dim, exact_below=1, cancel=cancel)
    graph = load_reference(shipped, sets_dir, embedder.model_sha256, embedder.dim).index_cache
    assert graph is not None and not graph.exists()
    refresh_search_graph(shipped, sets_dir, embedder.model_sha256, embedder.dim, exact_below=1)
    assert graph.is_file()


def test_present_sets_tells_shipped_from_downloaded_and_reads_an_interrupted_rebuilds_previous_copy(
    embedder: OnnxEmbedder, catalog: CatalogDatabase, shipped: Path, tmp_path: Path
) -> None:
    sets_dir = tmp_path / "sets"
    install(embedder, catalog, shipped, sets_dir, refresh_graph=False)
    bundle = tmp_path / "bundle"
    shutil.copytree(shipped, bundle.with_name("bundle.previous"))
    present = present_sets(bundle, sets_dir)
    assert (present.shipped, present.downloaded, present.problem) == ({"sv3pt5"}, {SET}, None)
    unreadable = present_sets(tmp_path / "nothing", sets_dir)
    assert unreadable.shipped is None and unreadable.installed == {SET}
    assert "No reference bundle" in str(unreadable.problem)


@pytest.mark.parametrize("name", ["..", ".", "", "../x", "a/b", "x y"])
def test_an_id_that_could_name_another_folder_is_not_safe(name: str) -> None:
    assert not is_safe_id(name)


def test_ordinary_set_and_card_ids_are_safe() -> None:
    assert all(is_safe_id(name) for name in ("sv3pt5", "xy12-1", "swsh12pt5gg-GG01", "sv4.5"))
