from __future__ import annotations

import dataclasses
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

import app.catalog.download as download_module
from app import PROJECT_ROOT
from app.catalog.commands import ProgressLine
from app.catalog.database import CardInfo, CatalogDatabase
from app.catalog.download import (
    UNREACHABLE_AFTER,
    BadImage,
    DownloadProgress,
    FetchResult,
    SetReport,
    UnknownSetError,
    card_image_format,
    download_and_install,
    fetch_card_image,
    fetch_set_images,
    image_cache_dir,
    rebase,
    remove_sets,
    resolve_set_ids,
)
from app.catalog.install import installed_sets_dir
from app.cli import main
from app.config import load_settings
from app.embed.base import EmbedderBackend
from app.engine import make_embedder
from app.match.shards import load_reference
from app.net.http import PoliteClient, RequestCancelled
from tests.catalog.image_server import ImageHost, ImageServer, catalogue_with_cards

CARDS = ["xy12-1", "xy12-2", "xy12-3", "xy12-4"]
BUNDLE = PROJECT_ROOT / "reference" / "default"


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


def test_a_host_that_cannot_be_reached_is_given_up_after_a_few_cards(catalog: CatalogDatabase, tmp_path: Path) -> None:
    cards = catalog.cards_in_set("xy12")
    result = fetch_set_images(
        "xy12", cards, cache_dir=tmp_path / "cache", client=client([]), image_base="http://127.0.0.1:9", jobs=1
    )
    reasons = dict(result.failed)
    assert sorted(reasons) == CARDS and result.downloaded == 0
    assert result.unreachable is not None and "cannot reach 127.0.0.1:9" in result.unreachable
    assert "/xy12/" not in result.unreachable  # the host's trouble, not one card's URL
    assert reasons["xy12-4"] == f"not tried: {result.unreachable}"
    assert all("cannot reach" in reasons[card] and not reasons[card].startswith("not tried") for card in CARDS[:3])


def test_once_the_host_is_given_up_later_sets_ask_it_nothing(
    catalog: CatalogDatabase, server: ImageServer, tmp_path: Path
) -> None:
    result = fetch_set_images(
        "xy12",
        catalog.cards_in_set("xy12"),
        cache_dir=tmp_path / "cache",
        client=client([]),
        image_base=server.base,
        unreachable="cannot reach the host",
    )
    assert server.host.requests == []
    assert result.failed == [(card, "not tried: cannot reach the host") for card in CARDS]


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


def test_a_half_written_file_left_by_a_stopped_run_is_removed_and_never_used(
    catalog: CatalogDatabase, server: ImageServer, tmp_path: Path
) -> None:
    set_dir = tmp_path / "cache" / "xy12"
    set_dir.mkdir(parents=True)
    stale, fresh = set_dir / ".xy12-1.abc.part", set_dir / ".xy12-2.def.part"
    for part in (stale, fresh):
        part.write_bytes(jpeg(660, 920)[:500])
    long_ago = time.time() - 3600
    os.utime(stale, (long_ago, long_ago))
    result = fetch(catalog, server, tmp_path / "cache")
    assert result.downloaded == 4 and not stale.exists() and fresh.exists()


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


# ---------------------------------------------------------------------------- the commands

#: Base Set is not shipped: its shard is what the app's loading adds. Evolutions' scans answer for it.
NEW_SET_CARDS = ["base1-1", "base1-2", "base1-3"]


@pytest.fixture
def new_set_db(tmp_path: Path) -> Path:
    return catalogue_with_cards(tmp_path / "new-set.sqlite", {"base1": NEW_SET_CARDS})


@pytest.fixture
def new_set_server(catalog_dir: Path) -> Iterator[ImageServer]:
    with ImageServer(ImageHost(catalog_dir / "images", aliases={"base1": "xy12"})) as running:
        yield running


def download(server: ImageServer, db: Path, *sets: str) -> int:
    return main(["catalog", "download", *sets, "--image-base", server.base, "--db", str(db), "--jobs", "2"])


def test_download_installs_a_set_the_app_then_loads_and_remove_takes_it_out(
    new_set_db: Path, new_set_server: ImageServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert download(new_set_server, new_set_db, "base1") == 0
    out, err = capsys.readouterr()
    assert "base1: 3 downloaded, 0 already here, 0 failed, 3 embedded" in out
    assert "base1 downloading [" in err and "base1 embedding [" in err
    combined = load_reference(BUNDLE, installed_sets_dir())
    assert set(NEW_SET_CARDS) <= set(combined.row_card_ids)
    assert main(["catalog", "sets", "--json", "--db", str(new_set_db)]) == 0
    rows = {row["id"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["base1"]["installed"] is True and rows["base2"]["installed"] is False

    new_set_server.host.requests.clear()
    assert download(new_set_server, new_set_db, "base1") == 0
    assert "base1: 0 downloaded, 3 already here, 0 failed, 3 embedded" in capsys.readouterr().out
    assert new_set_server.host.requests == []

    assert main(["catalog", "remove", "base1", "--db", str(new_set_db)]) == 0
    assert "Removed base1" in capsys.readouterr().out
    assert "base1-1" not in set(load_reference(BUNDLE, installed_sets_dir()).row_card_ids)
    assert (image_cache_dir() / "base1" / "base1-1.jpg").is_file()


def test_a_partly_failed_download_installs_the_rest_exits_1_and_names_each_failure(
    new_set_db: Path, new_set_server: ImageServer, capsys: pytest.CaptureFixture[str]
) -> None:
    new_set_server.host.fault("/base1/2_hires.png", "404")
    new_set_server.host.fault("/base1/2.png", "404")
    assert download(new_set_server, new_set_db, "BS") == 1
    out, err = capsys.readouterr()
    assert "base1: 2 downloaded, 0 already here, 1 failed, 2 embedded" in out
    assert f"  base1-2: HTTP 404 Not Found ({new_set_server.base}/base1/2.png)" in out
    assert "Run the same command again" in err
    assert download(new_set_server, new_set_db, "base1") == 0
    assert "base1: 1 downloaded, 2 already here, 0 failed, 3 embedded" in capsys.readouterr().out


def test_without_network_the_download_names_the_host_once_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    real_client = download_module.image_client
    # Every retry of every card still happens; only the waits between them are short.
    monkeypatch.setattr(
        download_module, "image_client", lambda cancel: dataclasses.replace(real_client(cancel), backoff_s=0.01)
    )
    cards = [f"base1-{n}" for n in range(1, 9)]
    db = catalogue_with_cards(tmp_path / "offline.sqlite", {"base1": cards})
    argv = ["catalog", "download", "base1", "--image-base", "http://127.0.0.1:9", "--db", str(db), "--jobs", "1"]
    assert main(argv) == 1
    out = capsys.readouterr().out
    tried = [line for line in out.splitlines() if line.startswith("  base1-")]
    assert len(tried) == UNREACHABLE_AFTER and all("cannot reach 127.0.0.1:9" in line for line in tried)
    assert f"  {len(cards) - UNREACHABLE_AFTER} more not tried: cannot reach 127.0.0.1:9" in out
    assert "is this computer online?" in out and "/base1/" not in out.split("more not tried")[1]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["base11"], r"unknown set 'base11' \(did you mean base1"),
        ([], "name the sets"),
        (["base1", "--all"], "not both"),
        (["base1", "--jobs", "0"], "--jobs must be between 1 and 16"),
        (["base1", "--image-base", "ftp://x"], "--image-base must be an http"),
    ],
)
def test_a_bad_request_exits_2_before_any_request(
    arguments: list[str],
    message: str,
    new_set_db: Path,
    new_set_server: ImageServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["catalog", "download", *arguments, "--db", str(new_set_db)]
    if "--image-base" not in arguments:
        argv += ["--image-base", new_set_server.base]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert re.search(message, err) and err.count("\n") == 1
    assert new_set_server.host.requests == []


def test_removing_a_set_not_installed_or_shipped_says_so_and_exits_1(
    new_set_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["catalog", "remove", "base1", "xy12", "--db", str(new_set_db)]) == 1
    err = capsys.readouterr().err
    assert "base1 is not installed; nothing to remove" in err
    assert "xy12 ships with cardsight" in err


def test_the_progress_line_shows_a_bar_and_an_eta() -> None:
    text = ProgressLine.describe(DownloadProgress("xy12", "download", 30, 120, 2, 95.0))
    assert text == "xy12 downloading [#######.......................] 30/120, 2 failed, ETA 1:35"
    stream = io.StringIO()
    line = ProgressLine(stream)
    for done in range(0, 121):
        line(DownloadProgress("xy12", "download", done, 120, 0, None))
    assert stream.getvalue().count("\n") == 11  # plain lines, one per tenth, when not a terminal


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_the_bar_is_redrawn_in_place_and_ends_its_line() -> None:
    stream = Terminal()
    line = ProgressLine(stream)
    for done in range(4):
        line(DownloadProgress("xy12", "embed", done, 3, 0, 1.0))
    drawn = stream.getvalue()
    assert drawn.count("\r\x1b[K") == 4 and drawn.endswith("3/3\n") and drawn.count("\n") == 1
    line(DownloadProgress("sv5", "download", 1, 3, 0, None))
    line.end()
    assert stream.getvalue().endswith("1/3\n")


# ---------------------------------------------------------------------------- the GUI's facade


@pytest.fixture(scope="module")
def embedder() -> Iterator[EmbedderBackend]:
    backend = make_embedder(load_settings(), live=False)
    yield backend
    backend.close()


@pytest.fixture
def new_set_catalog(new_set_db: Path) -> Iterator[CatalogDatabase]:
    db = CatalogDatabase.open(new_set_db)
    yield db
    db.close()


def test_the_facade_refuses_an_unknown_set_before_any_request(
    new_set_catalog: CatalogDatabase, new_set_server: ImageServer, embedder: EmbedderBackend
) -> None:
    with pytest.raises(UnknownSetError, match="did you mean base1"):
        download_and_install(["base1", "bas1"], embedder, catalog=new_set_catalog, image_base=new_set_server.base)
    assert new_set_server.host.requests == []


def test_a_cancel_while_embedding_installs_nothing_and_keeps_the_images(
    new_set_catalog: CatalogDatabase, new_set_server: ImageServer, embedder: EmbedderBackend, tmp_path: Path
) -> None:
    cancel = threading.Event()
    stages: list[str] = []

    def cancel_at_the_embedding(update: DownloadProgress) -> None:
        stages.append(update.stage)
        if update.stage == "embed":
            cancel.set()

    reports = download_and_install(
        ["base1"],
        embedder,
        catalog=new_set_catalog,
        image_base=new_set_server.base,
        progress=cancel_at_the_embedding,
        cancel=cancel,
        cache_dir=tmp_path / "cache",
        sets_dir=tmp_path / "sets",
    )
    assert reports == [SetReport("base1", 3, 0, [], 0)]
    assert stages[-1] == "embed" and "download" in stages
    assert sorted(p.name for p in (tmp_path / "cache" / "base1").iterdir()) == [f"{c}.jpg" for c in NEW_SET_CARDS]
    assert not (tmp_path / "sets" / "base1").exists()


def test_a_set_the_bundle_ships_is_skipped_without_a_request(
    new_set_db: Path, new_set_server: ImageServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert download(new_set_server, new_set_db, "xy12", "sv5") == 0
    assert "Skipping xy12, sv5: already in the reference bundle" in capsys.readouterr().err
    assert new_set_server.host.requests == []


def test_ctrl_c_stops_the_command_at_once_with_status_130(new_set_db: Path, catalog_dir: Path) -> None:
    host = ImageHost(catalog_dir / "images", aliases={"base1": "xy12"}, stall_s=30.0)
    for number in (1, 2, 3):
        host.fault(f"/base1/{number}_hires.png", "always:stall")
    with ImageServer(host) as server:
        command = [sys.executable, "-m", "app.cli", "catalog", "download", "base1"]
        command += ["--image-base", server.base, "--db", str(new_set_db)]
        process = subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 120
            while not host.requests and time.monotonic() < deadline and process.poll() is None:
                time.sleep(0.1)
            assert host.requests, "the download never started"
            process.send_signal(signal.SIGINT)
            interrupted = time.monotonic()
            _, err = process.communicate(timeout=20)
        finally:
            process.kill()
    assert time.monotonic() - interrupted < 3.0
    assert process.returncode == 130
    assert "download interrupted; verified images are kept" in err and "Traceback" not in err


def test_a_card_cut_short_by_a_cancel_is_not_counted_as_failed(catalog: CatalogDatabase, server: ImageServer) -> None:
    cancel = threading.Event()
    cancel.set()
    card = catalog.cards_in_set("xy12")[0]
    with pytest.raises(RequestCancelled):
        fetch_card_image(card, Path("unused"), client([]), server.base, cancel)


# ---------------------------------------------------------------------------- bad input from the catalogue


def server_card(card: CardInfo, server: ImageServer) -> CardInfo:
    return dataclasses.replace(
        card, image_large=rebase(card.image_large, server.base), image_small=rebase(card.image_small, server.base)
    )


def test_a_bad_image_url_fails_that_card_only(catalog: CatalogDatabase, server: ImageServer, tmp_path: Path) -> None:
    cards = [server_card(card, server) for card in catalog.cards_in_set("xy12")]
    cards[0] = dataclasses.replace(cards[0], image_large="images.pokemontcg.io/xy12/1_hires.png", image_small="")
    result = fetch_set_images("xy12", cards, cache_dir=tmp_path / "cache", client=client([]), jobs=2)
    assert result.downloaded == 3 and [card for card, _ in result.failed] == ["xy12-1"]
    assert "bad URL 'images.pokemontcg.io/xy12/1_hires.png'" in result.failed[0][1]


def test_a_card_that_cannot_be_kept_stops_the_run_and_its_jobs(
    catalog: CatalogDatabase, server: ImageServer, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "xy12").write_text("a file where the set's folder goes")  # every write fails, as on a full disk
    with pytest.raises(OSError, match="cannot keep the image of xy12-"):
        fetch_set_images(
            "xy12", catalog.cards_in_set("xy12"), cache_dir=cache, client=client([]), image_base=server.base, jobs=1
        )
    time.sleep(1.0)  # a job left running would go on asking for the other cards meanwhile
    assert len(server.host.requests) <= 2


def test_a_card_id_that_could_leave_the_cache_fails_without_a_request(
    catalog: CatalogDatabase, server: ImageServer, tmp_path: Path
) -> None:
    cards = catalog.cards_in_set("xy12")
    cards[0] = dataclasses.replace(cards[0], card_id="../../escaped")
    cache = tmp_path / "images" / "cache"
    result = fetch_set_images("xy12", cards, cache_dir=cache, client=client([]), image_base=server.base, jobs=2)
    assert result.downloaded == 3 and result.failed[0][0] == "../../escaped"
    assert "cannot name a file" in result.failed[0][1]
    assert "/xy12/1_hires.png" not in server.host.requests
    written = sorted(p.relative_to(tmp_path).as_posix() for p in (tmp_path / "images").rglob("*") if p.is_file())
    assert written == [f"images/cache/xy12/xy12-{n}.jpg" for n in (2, 3, 4)]


@pytest.mark.parametrize("set_id", ["..", "../elsewhere"])
def test_a_set_id_that_could_leave_the_cache_is_refused_before_any_request(
    set_id: str, catalog: CatalogDatabase, server: ImageServer, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="cannot name a folder"):
        fetch_set_images(
            set_id, catalog.cards_in_set("xy12"), cache_dir=tmp_path / "c", client=client([]), image_base=server.base
        )
    assert server.host.requests == [] and not (tmp_path / "c").exists()


# ---------------------------------------------------------------------------- the search graph after a download


@pytest.fixture
def two_new_sets(tmp_path: Path) -> Iterator[CatalogDatabase]:
    db = CatalogDatabase.open(
        catalogue_with_cards(tmp_path / "two.sqlite", {"base1": NEW_SET_CARDS, "base2": ["base2-1"]})
    )
    yield db
    db.close()


@pytest.fixture
def graph_refreshes(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, object]]:
    """Each graph refresh a download asks for, run for real with a graph however few the vectors."""
    calls: list[dict[str, object]] = []
    real = download_module.refresh_search_graph

    def refresh(*args: Any, **kwargs: Any) -> None:
        calls.append({"args": args, **kwargs})
        real(*args, **{**kwargs, "exact_below": 1})

    monkeypatch.setattr(download_module, "refresh_search_graph", refresh)
    return calls


def test_a_cancel_during_a_later_set_does_not_rebuild_the_graph(
    two_new_sets: CatalogDatabase,
    catalog_dir: Path,
    embedder: EmbedderBackend,
    tmp_path: Path,
    graph_refreshes: list[dict[str, object]],
) -> None:
    cancel = threading.Event()

    def cancel_at_the_second_set(update: DownloadProgress) -> None:
        if update.set_id == "base2":
            cancel.set()

    with ImageServer(ImageHost(catalog_dir / "images", aliases={"base1": "xy12", "base2": "xy12"})) as server:
        reports = download_and_install(
            ["base1", "base2"],
            embedder,
            catalog=two_new_sets,
            image_base=server.base,
            progress=cancel_at_the_second_set,
            cancel=cancel,
            cache_dir=tmp_path / "cache",
            sets_dir=tmp_path / "sets",
        )
    assert reports[0].embedded == 3 and (tmp_path / "sets" / "base1").is_dir()
    assert graph_refreshes == [] and not (tmp_path / "sets.index").exists()


def test_the_graph_is_built_for_the_bundle_the_app_uses(
    new_set_catalog: CatalogDatabase,
    new_set_server: ImageServer,
    embedder: EmbedderBackend,
    tmp_path: Path,
    graph_refreshes: list[dict[str, object]],
) -> None:
    custom = tmp_path / "custom-bundle"
    shutil.copytree(BUNDLE, custom)
    sets_dir = tmp_path / "sets"
    download_and_install(
        ["base1"],
        embedder,
        catalog=new_set_catalog,
        image_base=new_set_server.base,
        cache_dir=tmp_path / "cache",
        sets_dir=sets_dir,
        shipped=custom,
    )
    graph = load_reference(custom, sets_dir).index_cache
    assert len(graph_refreshes) == 1 and graph is not None and graph.is_file()
    remove_sets(["base1"], sets_dir=sets_dir, shipped=custom)
    assert len(graph_refreshes) == 2 and graph_refreshes[1]["args"][0] == custom  # type: ignore[index]


def test_a_cancelled_removal_leaves_the_graph_to_the_next_start(
    two_new_sets: CatalogDatabase,
    catalog_dir: Path,
    embedder: EmbedderBackend,
    tmp_path: Path,
    graph_refreshes: list[dict[str, object]],
) -> None:
    sets_dir = tmp_path / "sets"
    with ImageServer(ImageHost(catalog_dir / "images", aliases={"base1": "xy12", "base2": "xy12"})) as server:
        download_and_install(
            ["base1", "base2"],
            embedder,
            catalog=two_new_sets,
            image_base=server.base,
            cache_dir=tmp_path / "cache",
            sets_dir=sets_dir,
        )
    assert load_reference(BUNDLE, sets_dir).index_cache.is_file()  # type: ignore[union-attr]
    cancel = threading.Event()
    cancel.set()
    assert remove_sets(["base2"], sets_dir=sets_dir, cancel=cancel) == ["base2"]
    left = load_reference(BUNDLE, sets_dir)
    assert "base2-1" not in left.row_card_ids and not left.index_cache.is_file()  # type: ignore[union-attr]
