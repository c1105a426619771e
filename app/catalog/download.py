"""``cardsight catalog download``: fetch a set's card images, verify them, embed them and install the set.

Images come from the URLs in the catalogue database (``image_large``, falling back to ``image_small``
when the large one is missing), through the shared polite client (:mod:`app.net.http`): a few jobs in
parallel under one rate limit, backoff on 429/5xx, bounded timeouts. Every image is verified before it
is kept — an HTML page served with status 200, a truncated body, something that does not decode, or a
picture that is not card-shaped is refused with its reason — and kept in a cache folder
(``$XDG_DATA_HOME/cardsight/images/<set>/<card id>.<ext>``), written atomically, so a rerun fetches only
what is missing. Nothing here runs unless the user asks for a download.
"""

from __future__ import annotations

import difflib
import io
import logging
import os
import queue
import re
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from app.catalog.database import CardInfo, CatalogDatabase, default_catalog, user_catalog_path
from app.catalog.install import InstallCancelled, install_set, is_safe_id, refresh_search_graph, remove_set
from app.embed.base import EmbedderBackend
from app.net.http import Answer, HttpError, PoliteClient, RateLimit, RequestCancelled, RetryableAnswer

logger = logging.getLogger(__name__)

DEFAULT_JOBS = 4
MAX_JOBS = 16
IMAGE_USER_AGENT = "cardsight-catalog-download/1"
#: The image host is a CDN; ten requests a second across all jobs is a light, steady load.
IMAGE_RATE = RateLimit(per_second=10.0)
IMAGE_TIMEOUT_S = 15.0
#: A card picture is far smaller; a bigger answer is not a card image.
MAX_IMAGE_BYTES = 16 * 1024 * 1024
#: Formats kept, by Pillow's name → file extension.
IMAGE_FORMATS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp"}
#: A card is 63 × 88 mm; scans with a thin border or rounded corners cropped stay within a few percent.
CARD_ASPECT = 88 / 63
ASPECT_TOLERANCE = 0.06
#: The host's small images are 245 px wide; anything narrower is a thumbnail or an icon.
MIN_CARD_WIDTH = 200
MAX_CARD_PIXELS = 16_000_000
_CANCEL_POLL_S = 0.2
#: Cards in a row that failed because the host could not be reached, before a run stops asking it:
#: without network every request would otherwise use up its retries, card after card.
UNREACHABLE_AFTER = 3
#: How a card that was never asked for, because its host had been given up, is reported.
NOT_TRIED = "not tried: "
#: A ``.part`` file this old is left over from a stopped run (a download writes its file at once).
STALE_PART_S = 600.0


class UnknownSetError(ValueError):
    """Set ids the catalogue does not know (the message names close matches)."""


class BadImage(ValueError):
    """A body that is not a card image (the message says why). ``lasting``: a whole picture that is
    simply not a card scan (asking again will not change it), as opposed to a web page or a broken
    body, which may be a passing fault."""

    def __init__(self, reason: str, *, lasting: bool = False) -> None:
        super().__init__(reason)
        self.lasting = lasting


@dataclass(frozen=True)
class DownloadProgress:
    set_id: str
    stage: str  # "download" | "embed"
    done: int
    total: int
    failed: int
    eta_s: float | None


@dataclass
class SetReport:
    set_id: str
    downloaded: int
    already_had: int
    #: (card id, reason) for every card of the set that is not installed.
    failed: list[tuple[str, str]]
    embedded: int


ProgressCallback = Callable[[DownloadProgress], None]


def image_cache_dir() -> Path:
    """Verified card images, one folder per set, next to the user's catalogue copy."""
    return user_catalog_path().parent / "images"


# ---------------------------------------------------------------------------- set ids


def resolve_set_ids(catalog: CatalogDatabase, names: Sequence[str]) -> list[str]:
    """Set ids for set ids or PTCGO codes (any case), in the order given, each once; an unknown name is
    an :class:`UnknownSetError` naming close matches."""
    if not names:
        raise UnknownSetError("name at least one set (`cardsight catalog sets` lists them)")
    codes = catalog.set_codes()
    resolved: list[str] = []
    unknown: list[str] = []
    for name in names:
        set_id = codes.get(name.strip().lower())
        if set_id is None:
            unknown.append(name)
        elif set_id not in resolved:
            resolved.append(set_id)
    if unknown:
        raise UnknownSetError("; ".join(_unknown_message(name, codes) for name in unknown))
    return resolved


def _unknown_message(name: str, codes: dict[str, str]) -> str:
    close = difflib.get_close_matches(name.strip().lower(), list(codes), n=4, cutoff=0.6)
    ids = list(dict.fromkeys(codes[c] for c in close))
    hint = f"did you mean {', '.join(ids)}?" if ids else "`cardsight catalog sets` lists them"
    return f"unknown set {name!r} ({hint})"


# ---------------------------------------------------------------------------- verification


def card_image_format(body: bytes) -> str:
    """The file extension of a verified card image; :class:`BadImage` with the reason otherwise."""
    head = body[:512].lstrip().lower()
    if head.startswith((b"<!doctype", b"<html", b"<?xml", b"{")) or b"<html" in head:
        raise BadImage("the answer is a web page or an error message, not an image")
    try:
        with Image.open(io.BytesIO(body)) as image:
            kind, (width, height) = image.format, image.size
            if width * height > MAX_CARD_PIXELS:
                raise BadImage(f"a {width}×{height} picture is far larger than a card scan", lasting=True)
            image.load()
    except (UnidentifiedImageError, Image.DecompressionBombError) as error:
        raise BadImage(f"not a decodable image ({error})") from error
    except (OSError, SyntaxError, ValueError) as error:
        if isinstance(error, BadImage):
            raise
        raise BadImage(f"the image is damaged or truncated ({error})") from error
    extension = IMAGE_FORMATS.get(kind or "")
    if extension is None:
        raise BadImage(f"unexpected image format {kind}", lasting=True)
    if width < MIN_CARD_WIDTH:
        raise BadImage(f"a {width}×{height} picture is too small for a card scan", lasting=True)
    aspect = height / width
    if abs(aspect / CARD_ASPECT - 1) > ASPECT_TOLERANCE:
        raise BadImage(
            f"a {width}×{height} picture is not card-shaped (height/width {aspect:.2f}, a card is 1.40)", lasting=True
        )
    return extension


def cached_image(set_dir: Path, card_id: str) -> Path | None:
    """A card's kept image, if one is there and still opens as a card-sized picture (files are only
    written whole after verification, so a header check is enough)."""
    for extension in IMAGE_FORMATS.values():
        path = set_dir / f"{card_id}.{extension}"
        if not path.is_file():
            continue
        try:
            with Image.open(path) as image:
                width, _ = image.size
        except (OSError, SyntaxError, ValueError) as error:
            logger.warning("Fetching %s again: the kept image %s does not open (%s)", card_id, path, error)
            path.unlink(missing_ok=True)
            continue
        if width >= MIN_CARD_WIDTH:
            return path
    return None


def _keep(set_dir: Path, card_id: str, extension: str, body: bytes) -> Path:
    if not is_safe_id(card_id):  # callers refuse such ids first; a file name must never leave set_dir
        raise ValueError(f"card id {card_id!r} cannot name a file")
    set_dir.mkdir(parents=True, exist_ok=True)
    target = set_dir / f"{card_id}.{extension}"
    handle, tmp_name = tempfile.mkstemp(dir=set_dir, prefix=f".{card_id}.", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as tmp:
            tmp.write(body)
        Path(tmp_name).replace(target)
    finally:
        Path(tmp_name).unlink(missing_ok=True)
    return target


# ---------------------------------------------------------------------------- fetching


def rebase(url: str, image_base: str | None) -> str:
    """``url`` with its scheme and host replaced by ``image_base``'s (a mirror; a test server)."""
    if not image_base:
        return url
    base = urllib.parse.urlsplit(image_base)
    if base.scheme not in ("http", "https") or not base.netloc:
        raise ValueError(f"--image-base must be an http(s) URL like https://mirror.example, not {image_base!r}")
    parts = urllib.parse.urlsplit(url)
    path = base.path.rstrip("/") + parts.path
    return urllib.parse.urlunsplit((base.scheme, base.netloc, path, parts.query, ""))


def image_client(cancel: threading.Event | None) -> PoliteClient:
    """The shared polite client tuned for images; its backoff waits end early when ``cancel`` is set."""
    if cancel is None:
        sleep: Callable[[float], None] = time.sleep
    else:

        def sleep(seconds: float) -> None:
            cancel.wait(seconds)

    return PoliteClient(
        user_agent=IMAGE_USER_AGENT,
        timeout_s=IMAGE_TIMEOUT_S,
        max_bytes=MAX_IMAGE_BYTES,
        rate_limit=IMAGE_RATE,
        sleep=sleep,
    )


class _ImageCheck:
    """The client's check on each answer, remembering the verified format (each body decoded once).

    A web page or a broken body may be a passing fault (a proxy, a cut connection): asked for again.
    A whole picture of the wrong shape will not change: refused at once."""

    def __init__(self) -> None:
        self.extension = ""

    def __call__(self, answer: Answer) -> None:
        try:
            self.extension = card_image_format(answer.body)
        except BadImage as error:
            if error.lasting:
                raise HttpError(str(error)) from error
            raise RetryableAnswer(str(error)) from error


def fetch_card_image(
    card: CardInfo, set_dir: Path, client: PoliteClient, image_base: str | None, cancel: threading.Event | None
) -> Path:
    """Download, verify and keep one card's image (the large one, else the small one when the large
    is missing); :class:`HttpError` with the reason when neither can be had."""
    urls = [rebase(card.image_large, image_base), rebase(card.image_small, image_base)]
    for index, url in enumerate(urls):
        try:
            check = _ImageCheck()
            answer = client.get(url, headers={"Accept": "image/*"}, check=check, cancel=cancel)
        except RequestCancelled:
            raise
        except HttpError as error:
            if error.status == 404 and index + 1 < len(urls):
                logger.info("%s: no large image (%s); trying the small one", card.card_id, url)
                continue
            reason = str(error) if url in str(error) else f"{error} ({url})"
            raise HttpError(reason, error.status) from error
        if cancel is not None and cancel.is_set():
            raise RequestCancelled("cancelled")  # the run has stopped: nothing more is written
        return _keep(set_dir, card.card_id, check.extension, answer.body)
    raise AssertionError("unreachable: the last URL either answers or raises")


@dataclass
class FetchResult:
    set_id: str
    #: card id → verified image file.
    images: dict[str, Path] = field(default_factory=dict)
    downloaded: int = 0
    already_had: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    cancelled: bool = False
    #: Why the host was given up on (it could not be reached); None while it answers.
    unreachable: str | None = None


def fetch_set_images(
    set_id: str,
    cards: Sequence[CardInfo],
    *,
    cache_dir: Path,
    client: PoliteClient,
    image_base: str | None = None,
    jobs: int = DEFAULT_JOBS,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    unreachable: str | None = None,
) -> FetchResult:
    """Every card image of one set in the cache: kept ones reused, missing ones fetched by ``jobs``
    threads. A cancel stops new requests at once; what was verified is kept. After
    :data:`UNREACHABLE_AFTER` cards in a row the host could not be reached for (none fetched), the rest
    are not asked for (``unreachable`` given: none are) and fail with that reason. A card whose id
    could not name a file in the set's folder fails with that reason; such a set id is a ValueError.
    A card's image that cannot be written (a full disk) stops the run with an OSError naming it."""
    if not is_safe_id(set_id):
        raise ValueError(f"set id {set_id!r} from the catalogue cannot name a folder; nothing fetched")
    set_dir = cache_dir / set_id
    result = FetchResult(set_id)
    missing: list[CardInfo] = []
    for card in cards:
        if not is_safe_id(card.card_id):
            result.failed.append((card.card_id, "its id from the catalogue cannot name a file; not fetched"))
            continue
        kept = cached_image(set_dir, card.card_id)
        if kept is None:
            missing.append(card)
        else:
            result.images[card.card_id] = kept
    result.already_had = len(result.images)
    refused = len(result.failed)
    total = len(cards)
    started = time.monotonic()

    def report() -> None:
        if progress is None:
            return
        asked = result.downloaded + len(result.failed) - refused
        left = len(missing) - asked
        eta = (time.monotonic() - started) / asked * left if asked else None
        done = result.already_had + refused + asked
        progress(DownloadProgress(set_id, "download", done, total, len(result.failed), eta))

    report()
    if not missing:
        result.failed.sort()
        return result
    if unreachable is not None:
        return _not_tried(missing, result, unreachable)
    _remove_stale_parts(set_dir)
    todo: queue.SimpleQueue[CardInfo] = queue.SimpleQueue()
    for card in missing:
        todo.put(card)
    finished: queue.SimpleQueue[tuple[CardInfo, Path | Exception]] = queue.SimpleQueue()
    # Set on a cancel and when the host is given up on: the jobs ask for no more cards.
    stop = threading.Event()

    def work() -> None:
        while not stop.is_set():
            try:
                card = todo.get_nowait()
            except queue.Empty:
                return
            try:
                outcome: Path | Exception = fetch_card_image(card, set_dir, client, image_base, stop)
            except Exception as error:  # handed to the collecting thread, which decides
                outcome = error
            finished.put((card, outcome))

    # Daemon threads: a cancel (Ctrl-C included) never waits for a request under way. Files are
    # written whole and renamed, so a thread stopped at exit leaves at most a ``.part`` file.
    for number in range(max(1, min(jobs, MAX_JOBS, len(missing)))):
        threading.Thread(target=work, name=f"download-{set_id}-{number}", daemon=True).start()
    received = 0
    unreachable_in_a_row = 0
    answered: set[str] = set()
    try:
        while received < len(missing) and not result.cancelled:
            if cancel is not None and cancel.is_set():
                result.cancelled = True
                break
            try:
                # A short wait, so that a cancel is seen even while every job waits on a slow server.
                card, outcome = finished.get(timeout=_CANCEL_POLL_S)
            except queue.Empty:
                continue
            received += 1
            answered.add(card.card_id)
            _collect(card, outcome, result, set_dir)
            unreachable_in_a_row = unreachable_in_a_row + 1 if _host_unreachable(outcome) else 0
            if unreachable_in_a_row >= UNREACHABLE_AFTER and result.downloaded == 0:
                # The host's trouble, without the URL of the card that showed it: it is every card's.
                result.unreachable = re.sub(r" \(https?://[^()\s]*\)$", "", str(outcome))
                break
            if not result.cancelled:
                report()
    finally:
        # However the run ends (a full disk included), the jobs fetch and write nothing more.
        stop.set()
    if result.unreachable is not None:
        _not_tried([c for c in missing if c.card_id not in answered], result, result.unreachable)
        report()
    result.failed.sort()
    return result


def _host_unreachable(outcome: Path | Exception) -> bool:
    return isinstance(outcome, HttpError) and outcome.status is None and "cannot reach" in str(outcome)


def _not_tried(cards: Sequence[CardInfo], result: FetchResult, reason: str) -> FetchResult:
    result.unreachable = reason
    result.failed.extend((card.card_id, f"{NOT_TRIED}{reason}") for card in cards)
    return result


def split_not_tried(failed: Sequence[tuple[str, str]]) -> tuple[list[tuple[str, str]], int, str | None]:
    """The cards that failed when asked for, and how many were not asked for and why (one reason: the
    host given up), so a summary names the host once rather than once per card."""
    tried = [(card, why) for card, why in failed if not why.startswith(NOT_TRIED)]
    not_tried = [why for _, why in failed if why.startswith(NOT_TRIED)]
    return tried, len(not_tried), (not_tried[0].removeprefix(NOT_TRIED) if not_tried else None)


def _collect(card: CardInfo, outcome: Path | Exception, result: FetchResult, set_dir: Path) -> None:
    if isinstance(outcome, Path):
        result.images[card.card_id] = outcome
        result.downloaded += 1
    elif isinstance(outcome, RequestCancelled):
        result.cancelled = True
    elif isinstance(outcome, HttpError):
        result.failed.append((card.card_id, str(outcome)))
    elif isinstance(outcome, OSError):
        raise OSError(f"cannot keep the image of {card.card_id} in {set_dir}: {outcome}") from outcome
    else:
        # Anything else went wrong with this card only (its URL, its body): the others still count.
        logger.warning("%s failed: %s: %s", card.card_id, type(outcome).__name__, outcome)
        result.failed.append((card.card_id, f"{type(outcome).__name__}: {outcome}"))


def _remove_stale_parts(set_dir: Path) -> None:
    """Half-written files a stopped run left (old enough that no running download still writes them)."""
    if not set_dir.is_dir():
        return
    for part in set_dir.glob(".*.part"):
        try:
            if time.time() - part.stat().st_mtime > STALE_PART_S:
                part.unlink()
        except OSError as error:
            logger.debug("Cannot remove %s: %s", part, error)


# ---------------------------------------------------------------------------- the facade


def download_and_install(
    set_ids: Sequence[str],
    embedder: EmbedderBackend,
    *,
    catalog: CatalogDatabase | None = None,
    image_base: str | None = None,
    jobs: int = DEFAULT_JOBS,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    cache_dir: Path | None = None,
    sets_dir: Path | None = None,
    shipped: Path | None = None,
) -> list[SetReport]:
    """Fetch, verify, embed and install each set (by id or PTCGO code), one after the other, then
    rebuild the search graph over ``shipped`` (the reference bundle the app uses; default: the
    configured default) and the installed sets.

    Raises :class:`UnknownSetError` (close matches named) before any request, :class:`ValueError` for
    a bad ``jobs`` or ``image_base`` or a set id that cannot name a folder. A set whose images partly
    failed is installed with the cards it has (a rerun fetches the rest). A cancel stops promptly (the
    graph rebuild included: the next start builds it); the sets done so far are reported."""
    if not 1 <= jobs <= MAX_JOBS:
        raise ValueError(f"--jobs must be between 1 and {MAX_JOBS}")
    rebase("https://images.pokemontcg.io/", image_base)  # a bad base is one message before any work
    catalog = catalog or default_catalog()
    resolved = resolve_set_ids(catalog, set_ids)
    unsafe = [set_id for set_id in resolved if not is_safe_id(set_id)]
    if unsafe:
        raise ValueError(f"set id(s) {', '.join(map(repr, unsafe))} from the catalogue cannot name a folder")
    cache = cache_dir or image_cache_dir()
    client = image_client(cancel)
    reports: list[SetReport] = []
    # Once the host cannot be reached, later sets are installed from the images already kept only.
    unreachable: str | None = None
    for set_id in resolved:
        if cancel is not None and cancel.is_set():
            break
        cards = catalog.cards_in_set(set_id)
        fetched = fetch_set_images(
            set_id,
            cards,
            cache_dir=cache,
            client=client,
            image_base=image_base,
            jobs=jobs,
            progress=progress,
            cancel=cancel,
            unreachable=unreachable,
        )
        unreachable = fetched.unreachable
        set_report = SetReport(set_id, fetched.downloaded, fetched.already_had, list(fetched.failed), 0)
        reports.append(set_report)
        if fetched.cancelled or (cancel is not None and cancel.is_set()):
            break
        if not fetched.images:
            continue
        try:
            installed = install_set(
                set_id,
                fetched.images,
                embedder,
                catalog,
                sets_dir=sets_dir,
                progress=_embed_progress(set_id, progress),
                cancel=cancel,
                shipped=shipped,
                refresh_graph=False,
            )
        except InstallCancelled:
            logger.info("Installing %s cancelled; its images are kept for the next run", set_id)
            break
        set_report.embedded = installed.embedded
        set_report.failed.extend(installed.skipped)
    cancelled = cancel is not None and cancel.is_set()
    if any(report.embedded for report in reports) and not cancelled:
        # Once for all the sets: each rebuild of the search graph covers every installed set.
        refresh_search_graph(shipped, sets_dir, embedder.model_sha256, embedder.dim, cancel=cancel)
    return reports


def _embed_progress(set_id: str, progress: ProgressCallback | None) -> Callable[[int, int], None] | None:
    if progress is None:
        return None
    started = time.monotonic()

    def report(done: int, total: int) -> None:
        eta = (time.monotonic() - started) / done * (total - done) if done else None
        progress(DownloadProgress(set_id, "embed", done, total, 0, eta))

    return report


def remove_sets(
    set_ids: Sequence[str],
    *,
    sets_dir: Path | None = None,
    shipped: Path | None = None,
    cancel: threading.Event | None = None,
) -> list[str]:
    """Remove the installed reference data of these sets; returns the ids that were installed (and are
    now gone), then refreshes the search graph over ``shipped`` (the reference bundle the app uses;
    default: the configured default) and the sets left, unless ``cancel`` stops that (the next start
    builds it). Downloaded images stay in the cache, so installing again needs no network."""
    removed = [
        set_id for set_id in dict.fromkeys(set_ids) if remove_set(set_id, sets_dir=sets_dir, refresh_graph=False)
    ]
    if removed:
        refresh_search_graph(shipped, sets_dir, cancel=cancel)
    return removed
