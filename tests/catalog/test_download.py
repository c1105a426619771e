from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from app.catalog.database import CatalogDatabase
from app.catalog.download import (
    BadImage,
    DownloadProgress,
    FetchResult,
    UnknownSetError,
    card_image_format,
    fetch_set_images,
    image_cache_dir,
    rebase,
    resolve_set_ids,
)
from app.net.http import PoliteClient
from tests.catalog.image_server import ImageHost, ImageServer, catalogue_with_cards

CARDS = ["xy12-1", "xy12-2", "xy12-3", "xy12-4"]


@pytest.fixture
def catalog(tmp_path: Path) -> Iterator[CatalogDatabase]:
    db = CatalogDatabase.open(catalogue_with_cards(tmp_path / "catalog.sqlite", {"xy12": CARDS}))
    yield db
    db.close()


@pytest.fixture
def server(catalog_dir: Path) -> Iterator[ImageServer]:
    with ImageServer(ImageHost(catalog_dir / "images", stall_s=2.0)) as running:
        yield running


def client(sleeps: list[float], **options: float) -> PoliteClient:
    settings = {"timeout_s": 5.0, "attempts": 3, "backoff_s": 0.01, **options}
    return PoliteClient(sleep=sleeps.append, **settings)  # type: ignore[arg-type]


def fetch(
    catalog: CatalogDatabase,
    server: ImageServer,
    cache: Path,
    sleeps: list[float] | None = None,
    progress: list[DownloadProgress] | None = None,
    cancel: threading.Event | None = None,
    **options: float,
) -> FetchResult:
    return fetch_set_images(
        "xy12",
        catalog.cards_in_set("xy12"),
        cache_dir=cache,
        client=client(sleeps if sleeps is not None else [], **options),
        image_base=server.base,
        jobs=3,
        progress=progress.append if progress is not None else None,
        cancel=cancel,
    )


def jpeg(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), "red").save(out, "JPEG")
    return out.getvalue()


def test_a_set_is_fetched_verified_and_kept_in_the_cache(
    catalog: CatalogDatabase, server: ImageServer, tmp_path: Path
) -> None:
    progress: list[DownloadProgress] = []
    result = fetch(catalog, server, tmp_path / "cache", progress=progress)
    assert (result.downloaded, result.already_had, result.failed) == (4, 0, [])
    assert sorted(result.images) == CARDS
    assert all(path.parent == tmp_path / "cache" / "xy12" and path.suffix == ".jpg" for path in result.images.values())
    assert sorted(server.host.requests) == sorted(f"/xy12/{n}_hires.png" for n in range(1, 5))
    assert progress[0].done == 0 and progress[-1] == DownloadProgress("xy12", "download", 4, 4, 0, 0.0)
    assert not list((tmp_path / "cache" / "xy12").glob("*.part"))


def test_a_rerun_fetches_only_what_is_missing(catalog: CatalogDatabase, server: ImageServer, tmp_path: Path) -> None:
    server.host.fault("/xy12/3_hires.png", "404")
    server.host.fault("/xy12/3.png", "404")
    first = fetch(catalog, server, tmp_path / "cache")
    assert first.downloaded == 3 and [card for card, _ in first.failed] == ["xy12-3"]
    server.host.requests.clear()
    second = fetch(catalog, server, tmp_path / "cache")
    assert (second.downloaded, second.already_had, second.failed) == (1, 3, [])
    assert server.host.requests == ["/xy12/3_hires.png"]


def test_passing_faults_are_retried_politely(catalog: CatalogDatabase, server: ImageServer, tmp_path: Path) -> None:
    server.host.fault("/xy12/1_hires.png", "500")
    server.host.fault("/xy12/2_hires.png", "429:2")
    server.host.fault("/xy12/3_hires.png", "truncate")
    server.host.fault("/xy12/4_hires.png", "html")
    sleeps: list[float] = []
    result = fetch(catalog, server, tmp_path / "cache", sleeps)
    assert (result.downloaded, result.failed) == (4, [])
    assert sorted(sleeps) == [0.01, 0.01, 0.01, 2.0]
    assert all(card_image_format(path.read_bytes()) == "jpg" for path in result.images.values())


def test_lasting_failures_are_summarised_with_their_reasons(
    catalog: CatalogDatabase, server: ImageServer, tmp_path: Path
) -> None:
    for path in ("/xy12/1_hires.png", "/xy12/1.png"):
        server.host.fault(path, "404")
    server.host.fault("/xy12/2_hires.png", "always:html")
    server.host.fault("/xy12/3_hires.png", "always:truncate")
    server.host.fault("/xy12/4_hires.png", "square")
    result = fetch(catalog, server, tmp_path / "cache", attempts=2)
    reasons = dict(result.failed)
    assert result.downloaded == 0 and sorted(reasons) == CARDS
    assert reasons["xy12-1"].startswith("HTTP 404 Not Found (http://127.0.0.1:") and reasons["xy12-1"].endswith(
        "/xy12/1.png)"
    )
    assert "web page" in reasons["xy12-2"] and "gave up after 2 attempts" in reasons["xy12-2"]
    assert "transfer broken" in reasons["xy12-3"] and "gave up after 2 attempts" in reasons["xy12-3"]
    assert "400×400 picture is not card-shaped" in reasons["xy12-4"]
    assert server.host.requests.count("/xy12/4_hires.png") == 1  # a wrong picture is not asked for again
    assert not (tmp_path / "cache" / "xy12").exists() or not list((tmp_path / "cache" / "xy12").iterdir())


def test_a_stalled_connection_is_bounded_by_the_timeout(
    catalog: CatalogDatabase, server: ImageServer, tmp_path: Path
) -> None:
    server.host.fault("/xy12/2_hires.png", "always:stall")
    started = time.monotonic()
    result = fetch(catalog, server, tmp_path / "cache", timeout_s=0.3, attempts=2)
    assert time.monotonic() - started < 1.9
    assert result.downloaded == 3
    assert result.failed == [
        ("xy12-2", f"no answer within 0.3 s (gave up after 2 attempts) ({server.base}/xy12/2_hires.png)")
    ]


def test_a_missing_large_image_falls_back_to_the_small_one(
    catalog: CatalogDatabase, server: ImageServer, tmp_path: Path
) -> None:
    server.host.fault("/xy12/1_hires.png", "404")
    result = fetch(catalog, server, tmp_path / "cache")
    assert result.downloaded == 4 and result.failed == []
    with Image.open(result.images["xy12-1"]) as image:
        assert image.size == (245, 342)


def test_cancel_stops_promptly_and_keeps_what_was_verified(
    catalog: CatalogDatabase, server: ImageServer, tmp_path: Path
) -> None:
    for number in (2, 3, 4):
        server.host.fault(f"/xy12/{number}_hires.png", "always:stall")
    cancel = threading.Event()
    progress: list[DownloadProgress] = []

    def cancel_after_the_first(update: DownloadProgress) -> None:
        progress.append(update)
        if update.done >= 1:
            cancel.set()

    started = time.monotonic()
    result = fetch_set_images(
        "xy12",
        catalog.cards_in_set("xy12"),
        cache_dir=tmp_path / "cache",
        client=client([], timeout_s=1.5),
        image_base=server.base,
        jobs=4,
        progress=cancel_after_the_first,
        cancel=cancel,
    )
    assert time.monotonic() - started < 1.0
    assert result.cancelled and list(result.images) == ["xy12-1"] and result.failed == []
    assert [p.name for p in (tmp_path / "cache" / "xy12").iterdir()] == ["xy12-1.jpg"]


def test_a_kept_image_that_no_longer_opens_is_fetched_again(
    catalog: CatalogDatabase, server: ImageServer, tmp_path: Path
) -> None:
    fetch(catalog, server, tmp_path / "cache")
    (tmp_path / "cache" / "xy12" / "xy12-2.jpg").write_bytes(b"garbage")
    server.host.requests.clear()
    result = fetch(catalog, server, tmp_path / "cache")
    assert (result.downloaded, result.already_had) == (1, 3) and server.host.requests == ["/xy12/2_hires.png"]


def test_unknown_set_ids_name_close_matches(catalog: CatalogDatabase) -> None:
    assert resolve_set_ids(catalog, ["xy12", "EVO", "SV5"]) == ["xy12", "sv5"]
    with pytest.raises(UnknownSetError, match=r"unknown set 'xy112' \(did you mean .*xy12.*\?\)"):
        resolve_set_ids(catalog, ["xy12", "xy112"])
    with pytest.raises(UnknownSetError, match=r"unknown set 'zzzzzz' \(`cardsight catalog sets` lists them\)"):
        resolve_set_ids(catalog, ["zzzzzz"])


def test_verification_refuses_what_is_not_a_card_image() -> None:
    assert card_image_format(jpeg(660, 920)) == "jpg"
    cases = {
        b"<!DOCTYPE html><html><body>Oops</body></html>": "web page",
        b'{"error": "not found"}': "web page",
        jpeg(660, 920)[:800]: "damaged or truncated",
        b"\x89PNG\r\n\x1a\n" + b"\0" * 50: "not a decodable image",
        jpeg(920, 660): "not card-shaped",
        jpeg(100, 140): "too small",
    }
    for body, reason in cases.items():
        with pytest.raises(BadImage, match=reason):
            card_image_format(body)


def test_image_base_replaces_scheme_and_host() -> None:
    url = "https://images.pokemontcg.io/xy12/1_hires.png"
    assert rebase(url, None) == url
    assert rebase(url, "http://127.0.0.1:8080") == "http://127.0.0.1:8080/xy12/1_hires.png"
    assert rebase(url, "https://mirror.example/cards/") == "https://mirror.example/cards/xy12/1_hires.png"
    with pytest.raises(ValueError, match="--image-base must be an http"):
        rebase(url, "ftp://mirror")


def test_the_cache_lives_in_the_data_folder(private_data_home: Path) -> None:
    assert image_cache_dir() == private_data_home / "cardsight" / "images"
