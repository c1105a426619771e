"""``cardsight`` command line: the engine without the GUI."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np

from app.camera import CameraError
from app.camera.image_folder import IMAGE_SUFFIXES
from app.config import ConfigError, Settings, load_settings
from app.imageio import ImageReadError, read_image_bgr

logger = logging.getLogger(__name__)

VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v"})


def _finder(settings: Settings):  # type: ignore[no-untyped-def]
    from app.engine import make_finder

    return make_finder(settings)


def draw_overlay(frame: np.ndarray, corners_list: Sequence[np.ndarray]) -> np.ndarray:
    """The frame with each card outlined and its top-left corner marked."""
    out = frame.copy()
    thickness = max(2, frame.shape[1] // 400)
    for corners in corners_list:
        pts = np.round(corners).astype(np.int32)
        cv2.polylines(out, [pts], True, (0, 220, 0), thickness, cv2.LINE_AA)
        cv2.circle(out, tuple(int(v) for v in pts[0]), thickness * 3, (0, 0, 255), -1, cv2.LINE_AA)
    return out


# ---------------------------------------------------------------------------- inputs


def expand_inputs(raw: Sequence[str], suffixes: frozenset[str]) -> list[Path]:
    """Files as given, each once; folders replaced by their files with one of ``suffixes``, in name
    order. A folder that cannot be listed or holds no such file stays in the list as itself, for
    :func:`read_or_report` to report."""
    inputs: list[Path] = []
    seen: set[Path] = set()
    for item in raw:
        path = Path(item)
        found = [path]
        if path.is_dir():
            with contextlib.suppress(OSError):
                found = sorted(p for p in path.iterdir() if p.suffix.lower() in suffixes and p.is_file()) or [path]
        for file in found:
            if file.absolute() not in seen:
                seen.add(file.absolute())
                inputs.append(file)
    return inputs


def read_or_report(path: Path) -> np.ndarray | None:
    """The image, or None after one clear line on stderr (the caller counts the failure)."""
    if path.is_dir():
        print(f"cardsight: {path}: a folder without image files (or one that cannot be listed)", file=sys.stderr)
        return None
    try:
        return read_image_bgr(path)
    except ImageReadError as error:
        print(f"cardsight: {path}: {error}", file=sys.stderr)
        return None


def report_failure(path: Path, error: Exception) -> None:
    """One line for an input whose processing failed; the batch goes on (``-v`` logs the traceback)."""
    logger.debug("Processing %s failed", path, exc_info=error)
    print(f"cardsight: {path}: {str(error) or type(error).__name__}", file=sys.stderr)


# ---------------------------------------------------------------------------- detect


def positive_count(text: str) -> int:
    """``--every``: a whole number of frames, 1 or more."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of 1 or more, got {text!r}")
    return value


def output_stems(paths: Sequence[Path]) -> list[str]:
    """One distinct, deterministic output name per input: the file's stem; where stems collide, with
    its extension, else its folder's name, else both (``a_photo_jpg``); a counter as the last resort."""
    stems = [p.stem for p in paths]
    groups: dict[str, list[int]] = {}
    for i, stem in enumerate(stems):
        groups.setdefault(stem.casefold(), []).append(i)
    styles = (
        lambda p: f"{p.stem}_{p.suffix.lstrip('.').lower()}",
        lambda p: f"{p.absolute().parent.name}_{p.stem}",
        lambda p: f"{p.absolute().parent.name}_{p.stem}_{p.suffix.lstrip('.').lower()}",
    )
    for members in (m for m in groups.values() if len(m) > 1):
        for style in styles:
            names = [style(paths[i]) for i in members]
            if len({n.casefold() for n in names}) == len(names):
                for i, name in zip(members, names, strict=True):
                    stems[i] = name
                break
    taken: set[str] = set()
    for i, stem in enumerate(stems):
        name, n = stem, 2
        while name.casefold() in taken:
            name, n = f"{stem}-{n}", n + 1
        taken.add(name.casefold())
        stems[i] = name
    return stems


class DetectOutput:
    """The files one ``detect`` run writes into its folder: no name twice (a file written in this run
    is never overwritten), and the count of card images really written."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.cards = 0
        self.failed_writes = 0
        self._names: set[str] = set()

    def _free_name(self, name: str) -> Path:
        stem, n = name, 2
        while name.casefold() in self._names:
            name, n = f"{stem}-{n}", n + 1
        self._names.add(name.casefold())
        return self.folder / f"{name}.jpg"

    def write(self, name: str, image: np.ndarray, card: bool) -> None:
        path = self._free_name(name)
        if not cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, 92]):
            print(f"cardsight: cannot write {path}", file=sys.stderr)
            self.failed_writes += 1
        elif card:
            self.cards += 1


def cmd_detect(args: argparse.Namespace, settings: Settings) -> int:
    finder = _finder(settings)
    output = DetectOutput(Path(args.out))
    output.folder.mkdir(parents=True, exist_ok=True)
    failures = 0
    inputs = expand_inputs(args.inputs, IMAGE_SUFFIXES | VIDEO_SUFFIXES)
    for path, stem in zip(inputs, output_stems(inputs), strict=True):
        try:
            if path.suffix.lower() in VIDEO_SUFFIXES and path.is_file():
                for index, frame in _video_frames(path, args.every):
                    _detect_one(finder, frame, output, f"{stem}_f{index:05d}", args.overlay)
                continue
            frame = read_or_report(path)
            if frame is None:
                failures += 1
                continue
            finder.reset()
            _detect_one(finder, frame, output, stem, args.overlay)
        except Exception as error:
            # One bad input (a broken video, a picture the finder chokes on) must not end the batch.
            report_failure(path, error)
            failures += 1
    summary = f"{output.cards} card image(s) written to {output.folder}"
    if failures:
        summary += f"; {failures} input(s) failed"
    if output.failed_writes:
        summary += f"; {output.failed_writes} file(s) could not be written"
    print(summary)
    return 1 if failures or output.failed_writes else 0


def _video_frames(path: Path, every: int):  # type: ignore[no-untyped-def]
    from app.camera.video_file import VideoFileSource

    with VideoFileSource(path) as source:
        for frame in source:
            if frame.index % every == 0:
                yield frame.index, frame.image


def _detect_one(finder, frame: np.ndarray, output: DetectOutput, stem: str, overlay: bool) -> None:  # type: ignore[no-untyped-def]
    cards = finder.find_cards(frame)
    for k, card in enumerate(cards):
        output.write(f"{stem}_card{k}", card.warped.image, card=True)
    if overlay:
        output.write(f"{stem}_overlay", draw_overlay(frame, [c.corners for c in cards]), card=False)
    logger.info("%s: %d card(s)", stem, len(cards))


# ---------------------------------------------------------------------------- watch (headless run)


def open_source(spec: str | None, settings: Settings, paced: bool = False):  # type: ignore[no-untyped-def]
    """The source to scan (``auto`` picks the best one) and why it was chosen; says so on stderr when
    the demo clip stands in for a missing camera. Nothing is opened yet: the scan loop opens it."""
    from app.scanner import choose_source

    choice = choose_source(spec, settings, paced)
    if choice.is_demo and (spec or settings.camera.source) == "auto":
        print("No camera found: playing the bundled demo clip (assets/demo.mp4).", file=sys.stderr, flush=True)
    return choice.source, choice.reason


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[threading.Event]:
    """An event that Ctrl-C (SIGINT) and SIGTERM set instead of killing the command, so the scan loop
    ends cleanly; the previous handlers come back afterwards. Off the main thread, a plain event."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    signals = [signal.SIGINT] + ([signal.SIGTERM] if hasattr(signal, "SIGTERM") else [])
    previous = {number: signal.signal(number, lambda *_: stop.set()) for number in signals}
    try:
        yield stop
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _print_lost(message: str, retry_in_s: float) -> None:
    print(f"Camera lost ({message}); retrying in {retry_in_s:.1f} s", file=sys.stderr, flush=True)


def _print_restored() -> None:
    print("Camera delivers frames again.", file=sys.stderr, flush=True)


def _describe_cards(frame, cards) -> str:  # type: ignore[no-untyped-def]
    summary = ", ".join(
        f"card at ({c.corners[:, 0].mean():.0f},{c.corners[:, 1].mean():.0f}) "
        f"sharpness {c.sharpness:.0f} glare {c.glare:.0%}"
        for c in cards
    )
    return f"t={frame.timestamp:7.2f}s  {len(cards)} card(s) in view{': ' + summary if cards else ''}"


def cmd_watch(args: argparse.Namespace, settings: Settings) -> int:
    """Headless finder view: print what the finder sees on the best (or given) source."""
    from app.scanner import ScanListener, ScanLoop, ScanOptions

    with _stop_on_signals() as stop:
        # A live view: files play at their own speed.
        source, reason = open_source(args.source, settings, paced=True)
        print(f"Source: {source.description} — {reason}", flush=True)
        finder = _finder(settings)
        listener = ScanListener(on_lost=_print_lost, on_restored=_print_restored)
        loop = ScanLoop(source, stop, ScanOptions.from_settings(settings, args.max_seconds), listener)
        last_count = -1

        def on_cards(frame, cards) -> None:  # type: ignore[no-untyped-def]
            nonlocal last_count
            if len(cards) != last_count:
                print(_describe_cards(frame, cards), flush=True)
                last_count = len(cards)

        summary = loop.watch(finder, on_cards)
    fps = summary.frames / max(summary.elapsed_s, 1e-6)
    print(f"Stopped ({summary.ended}) after {summary.frames} frames ({fps:.1f} fps).", flush=True)
    return 0


def format_event(event) -> str:  # type: ignore[no-untyped-def]
    """One human-readable line per scan event."""
    head = f"t={event.t:7.2f}s  card#{event.track:<3} {event.event:10}"
    if event.event == "identified":
        return f"{head} {event.name} ({event.set_id} {event.number}) {event.confidence:.0%}" + (
            f" [number read {event.ocr}]" if event.ocr else ""
        )
    if event.event == "uncertain":
        options = ", ".join(f"{a['name']} ({a['set_id']} {a['number']})" for a in event.alternatives[:5])
        return f"{head} pick one: {options}" + (f" [{event.reason}]" if event.reason else "")
    if event.event == "error":
        return f"{head} {event.message}"
    return head


def seconds_limit(text: str) -> float:
    """``--max-seconds``: 0 or more (0: no limit)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not value >= 0.0:
        raise argparse.ArgumentTypeError(f"expected 0 or more seconds, got {text!r}")
    return value


def cmd_scan(args: argparse.Namespace, settings: Settings) -> int:
    """The live scanner, headless: one line (or JSON object) per event, and a summary line at the end
    (on stderr with ``--json``, so stdout stays one JSON object a line)."""
    from app.engine import load_engine
    from app.scanner import ScanListener, ScanLoop, ScanOptions

    if args.no_ocr:
        settings.ocr.enabled = False
    with _stop_on_signals() as stop:
        # Named before the engine loads: a wrong source is reported at once.
        source, reason = open_source(args.source, settings)
        engine = load_engine(settings, args.bundle)
        try:
            if not args.json:
                print(f"Source: {source.description} — {reason}", flush=True)
                print(
                    f"Embedding: {engine.embedder.description} ({engine.embedder.reason}); {engine.ocr_status}",
                    flush=True,
                )

            def emit(event) -> None:  # type: ignore[no-untyped-def]
                print(json.dumps(event.as_json(), ensure_ascii=False) if args.json else format_event(event), flush=True)

            listener = ScanListener(on_event=emit, on_lost=_print_lost, on_restored=_print_restored)
            # Files replay by their own timestamps and wait for every answer: same events on any machine.
            pipeline = engine.pipeline(settings, realtime=not source.is_recorded)
            loop = ScanLoop(source, stop, ScanOptions.from_settings(settings, args.max_seconds), listener)
            summary = loop.scan(pipeline)
        finally:
            engine.close()
    print(summary.describe(), file=sys.stderr if args.json else sys.stdout, flush=True)
    return 1 if summary.errors else 0


# ---------------------------------------------------------------------------- catalog / identify


def _embedder(settings: Settings, model: str | None = None):  # type: ignore[no-untyped-def]
    from app.engine import make_embedder

    return make_embedder(settings, model, live=False)


def cmd_catalog_build(args: argparse.Namespace, settings: Settings) -> int:
    from app.catalog.build import build_bundle, card_back_images

    embedder = _embedder(settings, args.model)
    print(
        f"Model: {embedder.sidecar.name} ({embedder.sidecar.sha256[:12]}…), backend: {embedder.description}",
        flush=True,
    )
    backs = []
    if args.backs:
        finder = _finder(settings)

        def straighten(photo: np.ndarray):  # type: ignore[no-untyped-def]
            finder.reset()
            cards = finder.find_cards(photo)
            return max(cards, key=lambda c: c.quad.area_frac).warped.image if cards else None

        backs = card_back_images(Path(args.backs), straighten)
        print(f"Card backs: {len(backs)} reference photo(s) from {args.backs}", flush=True)
    report = build_bundle(
        args.catalog,
        args.out,
        embedder,
        set_ids=args.sets.split(",") if args.sets else None,
        add=args.add,
        backs=backs,
        thumbs=not args.no_thumbs,
        views=args.views,
        progress=lambda message: print(message, flush=True),
    )
    return 0 if report.bundle.manifest.card_count else 1


def cmd_catalog_sets(args: argparse.Namespace, settings: Settings) -> int:
    from app.catalog.commands import run_sets

    return run_sets(args, Path(settings.match.bundle))


def cmd_catalog_search(args: argparse.Namespace, settings: Settings) -> int:
    from app.catalog.commands import run_search

    return run_search(args, Path(settings.match.bundle))


def cmd_catalog_update(args: argparse.Namespace, settings: Settings) -> int:
    from app.catalog.commands import run_update

    return run_update(args)


def cmd_catalog_download(args: argparse.Namespace, settings: Settings) -> int:
    from app.catalog.commands import run_download

    return run_download(args, Path(settings.match.bundle), lambda: _embedder(settings, args.model))


def cmd_catalog_remove(args: argparse.Namespace, settings: Settings) -> int:
    from app.catalog.commands import run_remove

    return run_remove(args, Path(settings.match.bundle))


def cmd_identify(args: argparse.Namespace, settings: Settings) -> int:
    from app.engine import load_engine
    from app.identify import Progress

    if args.no_ocr:
        settings.ocr.enabled = False
    engine = load_engine(settings, args.bundle, args.model, live=False)
    try:
        logger.info("%s", engine.ocr_status)
        inputs = expand_inputs(args.images, IMAGE_SUFFIXES)
        return _identify_all(inputs, engine.identifier(settings), Progress(len(inputs)), args.json)
    finally:
        engine.close()


def _identify_all(inputs: list[Path], identifier, progress, as_json: bool) -> int:  # type: ignore[no-untyped-def]
    """Each photo's cards on stdout (a table, or one JSON object per photo); a bad photo one line on
    stderr, the batch going on; the count and time left on stderr (``app.identify.Progress``)."""
    failures = 0
    # The whole path as given: photos named alike (eBay's long names) stay told apart.
    width = max([len("image"), *(len(str(p)) for p in inputs)])
    if not as_json:
        print(f"{'image':{width}} {'status':11} {'card':14} {'name':28} {'set':8} {'no.':6} conf", flush=True)
    for done, path in enumerate(inputs, start=1):
        progress.clear()  # a bad photo's line starts on a clean line
        image = read_or_report(path)
        cards = None
        if image is not None:
            progress.update(done - 1)
            try:
                cards = identifier.identify_image(image)
            except Exception as error:
                # One picture the engine cannot handle must not end the batch.
                progress.clear()
                report_failure(path, error)
        if cards is None:
            failures += 1
        else:
            progress.clear()
            _print_cards(path, cards, width, as_json)
        progress.update(done)
    return 1 if failures else 0


def _print_cards(path: Path, cards, width: int, as_json: bool) -> None:  # type: ignore[no-untyped-def]
    if as_json:
        print(json.dumps({"image": str(path), "cards": [c.as_json() for c in cards]}, ensure_ascii=False), flush=True)
        return
    if not cards:
        print(f"{path!s:{width}} {'no card':11}", flush=True)
    for card in cards:
        j = card.as_json()
        print(
            f"{path!s:{width}} {j['status']:11} {j['card_id'] or '-':14} {(j['name'] or '-')[:28]:28} "
            f"{j['set_id'] or '-':8} {j['number'] or '-':6} {j['confidence']:.2f}"
            + (f"  {j['reason']}" if "reason" in j else ""),
            flush=True,
        )


# ---------------------------------------------------------------------------- collection


def _collection(args: argparse.Namespace, settings: Settings, readonly: bool = False):  # type: ignore[no-untyped-def]
    from app.collection.open import open_collection

    # --db (a file, sqlite:PATH or postgresql://…) first, then the configured shop server, then the file.
    address = args.db or settings.collection.url or settings.collection.db
    return open_collection(address, synchronous=settings.collection.synchronous, readonly=readonly)


def _ensure_card(collection, card_id: str, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    """Copy the card's metadata into the collection, once: from the reference bundle, or else from the
    catalogue of every English card (a card added by hand may be from a set not installed)."""
    from app.catalog.database import catalog_metadata
    from app.collection import CollectionError

    if collection.has_card(card_id):
        return
    metadata_file = Path(settings.match.bundle) / "metadata.json"
    try:
        metadata = json.loads(metadata_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise CollectionError(f"cannot read card metadata from {metadata_file}: {error}") from error
    card = None if card_id.startswith("back:") else metadata.get(card_id) or catalog_metadata(card_id)
    if card is None:
        raise CollectionError(
            f"unknown card {card_id!r}: not in the catalogue (cardsight catalog search finds a card's id)"
        )
    collection.upsert_cards([card])


def cmd_collection(args: argparse.Namespace, settings: Settings) -> int:
    """One collection subcommand; any problem with the file or the request is one line on stderr and
    exit status 1, never a traceback."""
    import sqlite3

    from app.collection import CollectionError
    from app.collection.commands import database_error_message, opens_read_only, run_command

    try:
        with _collection(args, settings, readonly=opens_read_only(args)) as collection:
            return run_command(collection, args, lambda c, card_id: _ensure_card(c, card_id, settings))
    except CollectionError as error:
        print(f"cardsight: {error}", file=sys.stderr)
    except sqlite3.DatabaseError as error:
        print(f"cardsight: {database_error_message(args.db or settings.collection.db, error)}", file=sys.stderr)
    except OSError as error:
        print(f"cardsight: {error}", file=sys.stderr)
    return 1


# ---------------------------------------------------------------------------- prices


def _prices_progress(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


def _print_price_report(report, as_json: bool) -> None:  # type: ignore[no-untyped-def]
    print(json.dumps(report.as_dict(), ensure_ascii=False) if as_json else report.summary())


def cmd_prices(args: argparse.Namespace, settings: Settings) -> int:
    """One prices subcommand; a problem with the input, the network or the collection is one line
    on stderr and exit status 1, and nothing is stored."""
    import sqlite3

    from app.collection import CollectionError
    from app.collection.commands import database_error_message
    from app.prices.base import PriceError

    commands = {"update": cmd_prices_update, "import": cmd_prices_import, "show": cmd_prices_show}
    try:
        return commands[args.prices_command](args, settings)
    except (PriceError, CollectionError) as error:
        print(f"cardsight: {error}", file=sys.stderr)
    except sqlite3.DatabaseError as error:
        print(f"cardsight: {database_error_message(args.db or settings.collection.db, error)}", file=sys.stderr)
    except KeyboardInterrupt:
        print("cardsight: interrupted; no prices were stored", file=sys.stderr)
        return 130
    return 1


def cmd_prices_update(args: argparse.Namespace, settings: Settings) -> int:
    from app.prices.update import update_online

    with _collection(args, settings) as collection:
        print(f"Fetching prices from {args.api_base} …", file=sys.stderr)
        report = update_online(
            collection, args.api_base, args.set or (), args.api_key or "", _prices_progress, args.timeout
        )
    _print_price_report(report, args.json)
    return 0


def cmd_prices_import(args: argparse.Namespace, settings: Settings) -> int:
    from app.collection.store import CollectionError
    from app.prices.update import bundle_cards, import_files
    from app.prices.value import parse_day

    try:
        date = parse_day(args.date) if args.date else None
    except CollectionError as error:
        print(f"cardsight: --date: {error}", file=sys.stderr)
        return 1
    with _collection(args, settings) as collection:
        cards = bundle_cards(Path(settings.match.bundle))
        report = import_files(collection, [Path(f) for f in args.files], cards, args.set, date, _prices_progress)
    _print_price_report(report, args.json)
    return 0


def cmd_prices_show(args: argparse.Namespace, settings: Settings) -> int:
    from app.prices.table import price_history

    with _collection(args, settings, readonly=True) as collection:
        rows = price_history(collection, args.card_id, args.finish)
    if args.json:
        print(json.dumps(rows))
        return 0
    if not rows:
        print(f"No prices for {args.card_id} ({args.finish}); run `cardsight prices update` or `prices import`")
        return 1
    for r in rows:
        print(f"{r['date']}  {r['source']:10} {r['price']:10.2f} {r['currency']}")
    return 0


# ---------------------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cardsight",
        description="Trading-card camera scanner. `cardsight` alone starts the window, `cardsight --kiosk` the "
        "fullscreen kiosk (`--source S` picks the camera); the subcommands below run headless.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command")

    detect = sub.add_parser("detect", help="write the straightened card images found in images or videos")
    detect.add_argument("inputs", nargs="+", help="image files, video files or folders")
    detect.add_argument("--out", required=True, help="output folder")
    detect.add_argument("--every", type=positive_count, default=15, help="video: look at every Nth frame (default 15)")
    detect.add_argument("--no-overlay", dest="overlay", action="store_false", help="skip the outlined frame images")
    detect.set_defaults(func=cmd_detect)

    catalog = sub.add_parser("catalog", help="the card catalogue (every known card) and reference bundles")
    catalog_sub = catalog.add_subparsers(dest="catalog_command", required=True)
    build = catalog_sub.add_parser("build", help="build a reference bundle from a pokemontcg.io-layout catalogue")
    build.add_argument("--catalog", required=True, help="folder with sets.json, cards/, images/")
    build.add_argument("--out", required=True, help="bundle folder to write (replaced atomically)")
    build.add_argument("--sets", help="comma-separated set ids (default: all with a cards file)")
    build.add_argument("--add", action="store_true", help="keep the existing bundle's vectors, embed only new cards")
    build.add_argument("--backs", help="folder of card-back photos (plain, or the eBay labels.csv layout)")
    build.add_argument("--model", help="ONNX model (default: the configured one)")
    build.add_argument(
        "--no-thumbs", action="store_true", help="skip thumbnails (the GUI's pictures; the layout check needs them)"
    )
    build.add_argument("--views", type=int, default=4, help="vectors per card: the scan + camera-like variants")
    build.set_defaults(func=cmd_catalog_build)
    catalog_db_help = "catalogue database (default: your updated copy if there is one, else the shipped one)"
    sets = catalog_sub.add_parser(
        "sets", help="every known set: id, name, series, release date, cards, reference vectors installed"
    )
    sets.add_argument("--json", action="store_true", help="one JSON list")
    sets.add_argument("--db", help=catalog_db_help)
    sets.set_defaults(func=cmd_catalog_sets)
    search = catalog_sub.add_parser(
        "search",
        help="find any known card by name, number (4/102, TG05, SWSH061), set code (EVO, xy12) or card id",
        description="Find cards of the whole catalogue (every English set), not only the installed ones. "
        "Words combine: `charizard 4/102`, `pikachu evo`. Exit status 1 when nothing matches.",
    )
    search.add_argument("text", help="name, number, set code or card id, alone or combined")
    search.add_argument("--set", help="only this set (id or PTCGO code)")
    search.add_argument("--limit", type=positive_count, default=50, help="at most this many cards (default 50)")
    search.add_argument("--json", action="store_true", help="one JSON list")
    search.add_argument("--db", help=catalog_db_help)
    search.set_defaults(func=cmd_catalog_search)
    update = catalog_sub.add_parser(
        "update",
        help="fetch new sets and cards from the pokemontcg.io API into your copy of the catalogue",
        description="Uses the network (nothing else in `catalog` does). New and changed sets are merged into your copy "
        "of the catalogue (made from the shipped one first); the shipped file is never written. Finished sets "
        "are kept if the update stops, so running it again resumes. Exit status 1 when anything failed.",
    )
    update.add_argument("--api-base", default="https://api.pokemontcg.io/v2", help="API root (default: %(default)s)")
    update.add_argument(
        "--api-key",
        default=os.environ.get("POKEMONTCG_API_KEY"),
        help="pokemontcg.io API key, sent as X-Api-Key (default: $POKEMONTCG_API_KEY; optional)",
    )
    update.add_argument("--timeout", type=float, default=20.0, help="seconds to wait for an answer (default 20)")
    update.add_argument("--db", help="the copy to update (default: ~/.local/share/cardsight/catalog.db)")
    update.set_defaults(func=cmd_catalog_update)
    download = catalog_sub.add_parser(
        "download",
        help="fetch sets' card images, embed them and install the sets' reference vectors",
        description="Uses the network. Images are verified and kept in ~/.local/share/cardsight/images/<set>/, so "
        "running it again fetches only what is missing; installed sets go to ~/.local/share/cardsight/sets/. "
        "Exit status 0: all installed; 1: some card or set failed (listed with the reason); 2: nothing was "
        "attempted (unknown set, bad option); 130: interrupted.",
    )
    download.add_argument("sets", nargs="*", metavar="SET", help="set ids or codes (xy12, EVO); see `catalog sets`")
    download.add_argument("--all", action="store_true", help="every set of the catalogue")
    download.add_argument(
        "--image-base", help="replace the image URLs' scheme and host, e.g. http://mirror.local:8080 (a mirror)"
    )
    from app.catalog.download import DEFAULT_JOBS, MAX_JOBS

    jobs_help = f"downloads at a time (default {DEFAULT_JOBS}, at most {MAX_JOBS})"
    download.add_argument("--jobs", type=int, default=DEFAULT_JOBS, help=jobs_help)
    download.add_argument("--model", help="ONNX model (default: the configured one)")
    download.add_argument("--db", help=catalog_db_help)
    download.set_defaults(func=cmd_catalog_download)
    remove = catalog_sub.add_parser(
        "remove",
        help="remove installed sets' reference vectors (their downloaded images are kept)",
    )
    remove.add_argument("sets", nargs="+", metavar="SET", help="set ids or codes")
    remove.add_argument("--db", help=catalog_db_help)
    remove.set_defaults(func=cmd_catalog_remove)

    identify = sub.add_parser("identify", help="name every card in photos")
    identify.add_argument("images", nargs="+", help="image files or folders")
    identify.add_argument(
        "--bundle", help="reference bundle, used alone (default: the configured one and the installed sets)"
    )
    identify.add_argument("--model", help="ONNX model (default: the configured one)")
    identify.add_argument("--json", action="store_true", help="one JSON object per image")
    identify.add_argument(
        "--no-ocr", action="store_true", help="do not read collector numbers of ambiguous matches (faster)"
    )
    identify.set_defaults(func=cmd_identify)

    collection = sub.add_parser("collection", help="the card collection (SQLite)")
    collection.add_argument("--db", help="collection database (default: the configured one)")
    csub = collection.add_subparsers(dest="collection_command", required=True)
    add = csub.add_parser("add", help="add cards by hand")
    add.add_argument("card_id")
    add.add_argument("--qty", type=int, default=1)
    add.add_argument("--finish", default="normal")
    add.add_argument("--condition", default="NM")
    add.add_argument("--language", default="English")
    add.add_argument("--location", default="")
    add.add_argument("--notes")
    add.add_argument("--price", type=float, help="price paid per card")
    listing = csub.add_parser("list", help="list the inventory")
    listing.add_argument("--search", help="name, number or card id")
    listing.add_argument("--set")
    listing.add_argument("--rarity")
    listing.add_argument("--json", action="store_true")
    correct = csub.add_parser("correct", help="a scan was another card")
    correct.add_argument("scan_id", type=int)
    correct.add_argument("card_id")
    undo = csub.add_parser("undo", help="undo the last N actions (1 to 100; more than 1 asks first)")
    undo.add_argument("n", type=int, nargs="?", default=1)
    undo.add_argument("-y", "--yes", action="store_true", help="undo more than one action without asking")
    export = csub.add_parser("export", help="CSV export")
    export.add_argument("out")
    export.add_argument("--format", default="generic", choices=["generic", "tcgplayer", "dragonshield", "collectr"])
    export.add_argument("--session", help="only what this kiosk session added: its id or its label (see sessions)")
    export.add_argument("--sep-line", action="store_true", help="Dragon Shield: start with a sep=, line")
    importing = csub.add_parser("import", help="import a generic CSV")
    importing.add_argument("csv")
    importing.add_argument("--dry-run", action="store_true", help="only report what would change")
    sessions = csub.add_parser("sessions", help="list the kiosk sessions: id, label, start, source, scans, cards")
    sessions.add_argument("--json", action="store_true")
    backup = csub.add_parser("backup", help="consistent, verified copy of the database while in use")
    backup.add_argument("out")
    value = csub.add_parser("value", help="what the collection or a session is worth (run `cardsight prices` first)")
    value.add_argument("--session", help="only what this kiosk session added: its id or its label")
    value.add_argument(
        "--on", metavar="DATE", help="the value on this day, YYYY-MM-DD: cards held then, prices known then"
    )
    value.add_argument("--since", metavar="DATE", help="also show the change from this day's value")
    value.add_argument("--currency", default="USD", help="USD (TCGplayer) or EUR (Cardmarket); default USD")
    value.add_argument("--source", help="only prices of this source (tcgplayer, cardmarket, import)")
    value.add_argument(
        "--conditions", metavar="LP=0.85,…", help="condition factors (default NM=1, LP=0.85, MP=0.7, HP=0.5, DMG=0.3)"
    )
    value.add_argument("--json", action="store_true", help="totals, sets, every row and the unpriced rows as JSON")
    from app.collection.shop_commands import add_shop_parsers

    add_shop_parsers(csub)
    collection.set_defaults(func=cmd_collection)
    _add_prices_parser(sub)

    scan = sub.add_parser("scan", help="the live scanner, headless: one line per card event")
    scan.add_argument("--source", help="auto, 0, picamera2, demo, URL, video file or image folder")
    scan.add_argument("--json", action="store_true", help="one JSON object per event")
    scan.add_argument(
        "--bundle", help="reference bundle folder, used alone (default: the configured one and the installed sets)"
    )
    scan.add_argument("--no-ocr", action="store_true", help="do not read collector numbers")
    scan.add_argument(
        "--max-seconds",
        type=seconds_limit,
        default=0.0,
        help="stop after this long, opening and reconnecting included (0 = until the source ends)",
    )
    scan.set_defaults(func=cmd_scan)

    watch = sub.add_parser("watch", help="headless live view: print the cards the finder sees")
    watch.add_argument("--source", help="auto, 0, picamera2, demo, URL, video file or image folder")
    watch.add_argument(
        "--max-seconds",
        type=seconds_limit,
        default=0.0,
        help="stop after this long, opening and reconnecting included (0 = until Ctrl-C)",
    )
    watch.set_defaults(func=cmd_watch)
    return parser


def _add_prices_parser(sub: argparse._SubParsersAction) -> None:
    prices = sub.add_parser("prices", help="market prices of cards (kept with their history in the collection)")
    prices.add_argument("--db", help="collection database (default: the configured one)")
    psub = prices.add_subparsers(dest="prices_command", required=True)
    update = psub.add_parser(
        "update",
        help="fetch prices from the pokemontcg.io API (TCGplayer USD by finish, Cardmarket EUR)",
        description="Uses the network (nothing else in `prices` does). Everything is fetched first and then stored "
        "in one go: a failed update stores nothing.",
    )
    update.add_argument(
        "--source", choices=["pokemontcg"], default="pokemontcg", help="price source (default %(default)s)"
    )
    update.add_argument("--api-base", default="https://api.pokemontcg.io/v2", help="API root (default: %(default)s)")
    update.add_argument("--set", nargs="+", metavar="ID", help="only these sets (default: every card)")
    update.add_argument(
        "--api-key",
        default=os.environ.get("POKEMONTCG_API_KEY"),
        help="pokemontcg.io API key, sent as X-Api-Key (default: $POKEMONTCG_API_KEY; optional)",
    )
    update.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for an answer (default 30)")
    update.add_argument("--json", action="store_true", help="the summary as one JSON object")
    importing = psub.add_parser(
        "import", help="store prices from saved pokemontcg.io pages (.json) or TCGplayer price CSVs (.csv)"
    )
    importing.add_argument("files", nargs="+", help="saved API pages (.json) and TCGplayer price CSVs (.csv)")
    importing.add_argument("--set", help="CSV rows are cards of this set (default: matched by number, total and name)")
    importing.add_argument("--date", help="CSV prices are of this day, YYYY-MM-DD (default: the file's date)")
    importing.add_argument("--json", action="store_true", help="the summary as one JSON object")
    show = psub.add_parser("show", help="the stored price history of one card in one finish")
    show.add_argument("card_id")
    show.add_argument("--finish", default="normal")
    show.add_argument("--json", action="store_true")
    prices.set_defaults(func=cmd_prices)


def command_names() -> set[str]:
    """The subcommands (``scan``, ``identify``, …): anything else on the ``cardsight`` line starts the GUI."""
    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            return set(action.choices)
    return set()


def start_up(level: int) -> Settings | None:
    """Logging and settings for an entry point; a broken config is one line on stderr (None)."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return load_settings()
    except ConfigError as error:
        print(f"cardsight: {error}", file=sys.stderr)
        return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    settings = start_up(logging.DEBUG if args.verbose else logging.WARNING)
    if settings is None:
        return 2
    if args.command is None:
        args = parser.parse_args(["watch", *(argv or [])])
    try:
        return int(args.func(args, settings))
    except (CameraError, FileNotFoundError, ValueError, RuntimeError) as error:
        # Bundle/model mismatches, catalogue errors, missing models: one clear line, no traceback.
        print(f"cardsight: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
