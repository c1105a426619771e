"""Live-scanning scenarios built from real material: clips of how people actually present cards.

Each scenario is a few *spots* (places in the frame where cards are laid, a kiosk's card stand or a
marked spot on the desk), each with a timeline of what lies there: a real catalogue scan, a real eBay
photo of a card front or back (cropped out of the listing photo by its labelled box), or nothing. The
frames are rendered by the capture simulator (perspective, light, noise of a camera), with the
happenings a real kiosk sees between cards: another card laid in the same place with 0, 5 or 20 empty
frames between, a card turned over in place, a hand passing over a card, a top-loader, a binder page
moved slowly under the camera. Each scenario states the decision events a person expects, in order.

Used by ``bench/scenarios.py`` (expected vs got per scenario, JSON) and the tests that pin them.
"""

from __future__ import annotations

import csv
import math
import zlib
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from app.camera.base import BGRImage, Frame
from app.camera.video_file import VideoFileSource
from app.config import Settings
from app.engine import Engine
from app.imageio import read_image_bgr
from app.match.bundle import BACK_PREFIX, ReferenceBundle
from app.pipeline import ScanEvent
from app.vision.geometry import CANONICAL_SIZE, FloatArray
from models.sim.capture_sim import (
    CARD_MM,
    TOPLOADER_MM,
    CaptureSimulator,
    SimOptions,
    _camera_effects,
    _draw_plastic,
    _expand,
    load_card_texture,
    render_background,
)

FPS = 30.0

#: Decision events (``lost`` and ``error`` are bookkeeping, not what a person counts).
DECISIONS = ("identified", "uncertain", "unknown", "card_back")


@dataclass(frozen=True)
class Shot:
    """What lies at a spot for ``frames`` frames: a texture key (see :class:`Material`) or ``None``."""

    texture: str | None
    frames: int
    #: A hand passes over the card, starting ``hand_at`` frames into the shot, for ``hand_frames``.
    hand_at: int | None = None
    hand_frames: int = 6
    toploader: bool = False
    #: The shot before this one turns over into this one (the card is flipped in place) over this
    #: many frames (half showing the old side narrowing, half the new side widening).
    flip_frames: int = 0


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    #: One timeline per spot; spots are laid out left to right.
    spots: tuple[tuple[Shot, ...], ...]
    #: The decision events a person expects: (event, card id or None).
    expected: tuple[tuple[str, str | None], ...]
    #: False: the expected events may come in any order (cards in view together).
    ordered: bool = True
    #: Card height as a fraction of the frame height.
    card_height: float = 0.6
    #: A binder page: the spots are its pockets (rows × cols), and the page moves by ``pan_px``.
    binder: tuple[int, int] | None = None
    pan_px: float = 0.0

    @property
    def frames(self) -> int:
        return max(sum(s.frames for s in spot) for spot in self.spots)


@dataclass
class Material:
    """Card pictures by key: catalogue ids (``sv5-97``), ``front:<file>`` and ``back:<file>`` for eBay
    photos (cropped to their labelled card box)."""

    catalog_dir: Path
    ebay_dir: Path
    _cache: dict[str, BGRImage] = field(default_factory=dict)

    def texture(self, key: str) -> BGRImage:
        if key not in self._cache:
            if key.startswith(("front:", "back:")):
                self._cache[key] = self._ebay_card(key.split(":", 1)[1])
            else:
                set_id = key.rsplit("-", 1)[0]
                self._cache[key] = load_card_texture(self.catalog_dir / "images" / set_id / f"{key}.jpg")
        return self._cache[key]

    def _ebay_card(self, file: str) -> BGRImage:
        photo = read_image_bgr(self.ebay_dir / "images" / file)
        box = self.card_boxes().get(file)
        if box is not None:
            x0, y0, x1, y1 = box
            photo = photo[y0:y1, x0:x1]
        return cv2.resize(photo, CANONICAL_SIZE, interpolation=cv2.INTER_AREA)

    def card_boxes(self) -> dict[str, tuple[int, int, int, int]]:
        if "_boxes" not in self.__dict__:
            boxes: dict[str, tuple[int, int, int, int]] = {}
            with open(self.ebay_dir / "boxes.csv", newline="") as handle:
                for row in csv.DictReader(handle):
                    if row["class"] == "Card":
                        boxes[row["filename"]] = (
                            int(row["xmin"]),
                            int(row["ymin"]),
                            int(row["xmax"]),
                            int(row["ymax"]),
                        )
            self.__dict__["_boxes"] = boxes
        return dict(self.__dict__["_boxes"])

    def ebay_files(self, side: str, held_out: bool = True) -> list[str]:
        """eBay photos of one side, one per source photo. ``held_out``: only source photos the default
        bundle's card-back references were not built from (``app.catalog.build.card_back_images``
        takes those with an even crc32)."""
        seen: set[str] = set()
        files = []
        with open(self.ebay_dir / "labels.csv", newline="") as handle:
            for row in csv.DictReader(handle):
                source = row["source_photo"]
                if row["side"] != side or source in seen:
                    continue
                if held_out and zlib.crc32(source.encode()) % 2 == 0:
                    continue
                seen.add(source)
                files.append(row["file"])
        return sorted(files)


# --------------------------------------------------------------------------- the scenarios


def default_scenarios(
    card_ids: Sequence[str], fronts: Sequence[str], backs: Sequence[str], hold: int = 75
) -> list[Scenario]:
    """The suite. ``card_ids``: catalogue cards (≥ 9), ``fronts``/``backs``: eBay photo files (≥ 1 each).
    ``hold``: frames a card lies on a kiosk's spot (75 = 2.5 s: laid, the beep, the next card)."""
    a, b, c, d, e, f = card_ids[:6]
    back, front = f"back:{backs[0]}", f"front:{fronts[0]}"

    def swap(gap: int) -> Scenario:
        shots: list[Shot] = []
        for k, card in enumerate((a, b, c, d)):
            if k and gap:
                shots.append(Shot(None, gap))
            shots.append(Shot(card, hold))
        return Scenario(
            f"kiosk_swap_gap{gap}",
            f"four catalogue cards laid one after another on the same spot, {gap} empty frames between",
            (tuple(shots),),
            tuple(("identified", x) for x in (a, b, c, d)),
        )

    return [
        swap(0),
        swap(5),
        swap(20),
        Scenario(
            "duplicate_laid_twice",
            "the same card laid, taken away for 20 frames, and laid again (a second copy)",
            ((Shot(e, hold), Shot(None, 20), Shot(e, hold)),),
            (("identified", e), ("identified", e)),
        ),
        Scenario(
            "hand_over_card",
            "a hand passes over a card lying still (6 frames, 200 ms)",
            ((Shot(a, hold + 30, hand_at=hold // 2 + 15),),),
            (("identified", a),),
        ),
        Scenario(
            "flip_to_back_and_front",
            "a card turned over in place to its back (a real photographed back) and back again",
            ((Shot(b, hold), Shot(back, hold, flip_frames=8), Shot(b, hold, flip_frames=8)),),
            (("identified", b), ("card_back", None), ("identified", b)),
        ),
        Scenario(
            "unknown_then_catalogue_card",
            "a real photographed card not in the catalogue, then a catalogue card on the same spot (no gap)",
            ((Shot(front, hold), Shot(c, hold)),),
            (("unknown", None), ("identified", c)),
        ),
        Scenario(
            "side_by_side_replaced_one_at_a_time",
            "two cards side by side; the right one replaced in place, then the left one",
            (
                (Shot(a, 2 * hold), Shot(d, hold + 15)),
                (Shot(b, hold), Shot(c, 2 * hold + 15)),
            ),
            (("identified", a), ("identified", b), ("identified", c), ("identified", d)),
            ordered=False,
            card_height=0.55,
        ),
        Scenario(
            "card_in_a_toploader",
            "a card in a rigid top-loader laid on the spot",
            ((Shot(f, hold + 15, toploader=True),),),
            (("identified", f),),
        ),
        Scenario(
            "binder_page_3x3_panned",
            "a 3×3 binder page of catalogue cards moved slowly under the camera",
            tuple((Shot(card, 2 * hold),) for card in card_ids[:9]),
            tuple(("identified", x) for x in card_ids[:9]),
            ordered=False,
            binder=(3, 3),
            pan_px=120.0,
            card_height=0.29,
        ),
    ]


def unique_name_cards(bundle: ReferenceBundle) -> list[str]:
    names = Counter(str(m.get("name")) for c, m in bundle.metadata.items() if not c.startswith(BACK_PREFIX))
    return sorted(
        c for c, m in bundle.metadata.items() if not c.startswith(BACK_PREFIX) and names[str(m.get("name"))] == 1
    )


def seeded_suite(bundle: ReferenceBundle, material: Material, seed: int, hold: int = 75) -> list[Scenario]:
    """The suite on a seeded sample of catalogue cards whose name is unique in the bundle (a look-alike
    printing is a question for the number reader, not for presentations) and of eBay photos."""
    rng = np.random.default_rng(seed)
    cards = unique_name_cards(bundle)
    chosen = [cards[i] for i in rng.choice(len(cards), size=9, replace=False)]
    fronts = material.ebay_files("front")
    backs = material.ebay_files("back")
    return default_scenarios(
        chosen,
        [fronts[int(rng.integers(len(fronts)))]],
        [backs[int(rng.integers(len(backs)))]],
        hold,
    )


# --------------------------------------------------------------------------- rendering


@dataclass(frozen=True)
class ScenarioFrame:
    image: BGRImage
    timestamp: float
    #: What lies at each spot this frame (texture key or None).
    showing: tuple[str | None, ...]


def render_frames(
    scenario: Scenario, material: Material, seed: int = 0, size: tuple[int, int] = (1280, 720)
) -> Iterator[ScenarioFrame]:
    """The scenario's frames, rendered one at a time (seeded: the same frames on every machine)."""
    rng = np.random.default_rng(seed)
    keys = sorted({s.texture for spot in scenario.spots for s in spot if s.texture is not None})
    sim = CaptureSimulator([material.texture(k) for k in keys], SimOptions(size=size))
    index = {k: i for i, k in enumerate(keys)}
    background = render_background(rng, size, clutter=False)
    effects_seed = int(rng.integers(0, 2**31))
    spots = _spot_quads(scenario, size, rng)
    # Each card laid at a spot lands a few pixels and a little turn off the last one.
    laid = [[_jitter(q, rng) for _ in spot] for q, spot in zip(spots, scenario.spots, strict=True)]
    for frame_index in range(scenario.frames):
        t = frame_index / FPS
        pan = np.array([scenario.pan_px * frame_index / max(scenario.frames - 1, 1), 0.0])
        tremor = np.array([math.sin(7.1 * t), math.cos(5.3 * t)]) * 1.0
        placements: list[tuple[int, FloatArray]] = []
        toploaders: list[FloatArray] = []
        hands: list[FloatArray] = []
        showing: list[str | None] = []
        for spot_index, timeline in enumerate(scenario.spots):
            shot_index, local = _shot_at(timeline, frame_index)
            if shot_index is None:
                showing.append(None)
                continue
            shot = timeline[shot_index]
            quad = laid[spot_index][shot_index] + pan + tremor
            texture = shot.texture
            if shot.flip_frames and local < shot.flip_frames and shot_index > 0:
                # Turning over: the old side narrows to an edge, the new side widens from it.
                half = shot.flip_frames / 2
                squeeze = abs(local + 0.5 - half) / half
                if local < half:
                    texture = timeline[shot_index - 1].texture
                quad = _squeezed(quad, max(squeeze, 0.04))
            showing.append(texture)
            if texture is None:
                continue
            placements.append((index[texture], quad))
            if shot.toploader:
                toploaders.append(quad)
            if shot.hand_at is not None and shot.hand_at <= local < shot.hand_at + shot.hand_frames:
                progress = (local - shot.hand_at + 0.5) / shot.hand_frames
                hands.append(_hand_at(quad, progress))
        page = _page_quad(spots, scenario) + pan + tremor if scenario.binder is not None else None
        image = _compose(sim, rng, background, placements, toploaders, hands, effects_seed, page)
        yield ScenarioFrame(image, t, tuple(showing))


def showing_whole(scenario: Scenario, frame_index: int) -> bool:
    """Some spot shows a card, lying flat (not turning over), in this frame."""
    for timeline in scenario.spots:
        shot_index, local = _shot_at(timeline, frame_index)
        shot = timeline[shot_index] if shot_index is not None else None
        if shot is not None and shot.texture is not None and local >= shot.flip_frames:
            return True
    return False


def _shot_at(timeline: Sequence[Shot], frame_index: int) -> tuple[int | None, int]:
    start = 0
    for k, shot in enumerate(timeline):
        if frame_index < start + shot.frames:
            return (k if shot.texture is not None or shot.flip_frames else None), frame_index - start
        start += shot.frames
    return None, 0


def _spot_quads(scenario: Scenario, size: tuple[int, int], rng: np.random.Generator) -> list[FloatArray]:
    width, height = size
    card_h = scenario.card_height * height
    card_w = card_h * CARD_MM[0] / CARD_MM[1]
    if scenario.binder is not None:
        rows, cols = scenario.binder
        pitch_x, pitch_y = card_w * 1.08, card_h * 1.06
        x0 = (width - cols * pitch_x - scenario.pan_px) / 2
        y0 = (height - rows * pitch_y) / 2
        return [
            _rectangle(x0 + c * pitch_x + 0.04 * card_w, y0 + r * pitch_y + 0.03 * card_h, card_w, card_h)
            for r in range(rows)
            for c in range(cols)
        ][: len(scenario.spots)]
    n = len(scenario.spots)
    quads = []
    for k in range(n):
        centre_x = width * (k + 1) / (n + 1)
        quad = _rectangle(centre_x - card_w / 2, (height - card_h) / 2, card_w, card_h)
        quads.append(_turned(quad, rng.uniform(-0.08, 0.08)))
    return quads


def _page_quad(spots: Sequence[FloatArray], scenario: Scenario) -> FloatArray:
    """A binder page around its pockets: a margin of a fifth of a card all round."""
    corners = np.vstack(spots)
    lo, hi = corners.min(axis=0), corners.max(axis=0)
    margin = 0.2 * scenario.card_height * (hi[1] - lo[1]) / max(scenario.binder[0] if scenario.binder else 1, 1)
    return _rectangle(lo[0] - margin, lo[1] - margin, hi[0] - lo[0] + 2 * margin, hi[1] - lo[1] + 2 * margin)


def _rectangle(x: float, y: float, w: float, h: float) -> FloatArray:
    return np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], np.float64)


def _turned(quad: FloatArray, angle: float) -> FloatArray:
    centre = quad.mean(axis=0)
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    return np.asarray((quad - centre) @ rotation.T + centre)


def _jitter(quad: FloatArray, rng: np.random.Generator) -> FloatArray:
    return np.asarray(_turned(quad, rng.normal(0, 0.01)) + rng.normal(0, 3.0, 2))


def _squeezed(quad: FloatArray, factor: float) -> FloatArray:
    """The card turning about its vertical axis: its left and right sides drawn towards the middle."""
    middle_top, middle_bottom = (quad[0] + quad[1]) / 2, (quad[3] + quad[2]) / 2
    out = quad.copy()
    out[0] = middle_top + (quad[0] - middle_top) * factor
    out[1] = middle_top + (quad[1] - middle_top) * factor
    out[2] = middle_bottom + (quad[2] - middle_bottom) * factor
    out[3] = middle_bottom + (quad[3] - middle_bottom) * factor
    return out


#: A flat hand and forearm seen from above, pointing left, fingertips at the origin, in units of the
#: card's height (a palm is about as wide as a card is tall).
_HAND = np.array(
    [(0.0, -0.3), (0.6, -0.5), (1.2, -0.45), (3.0, -0.4), (3.0, 0.4), (1.2, 0.45), (0.6, 0.5), (0.0, 0.3)],
    np.float64,
)


def _hand_at(quad: FloatArray, progress: float) -> FloatArray:
    """The hand sweeping right to left across the card: fingertips from its right edge to well past its
    left, the palm covering the whole card on the way."""
    lo, hi = quad.min(axis=0), quad.max(axis=0)
    card_w, card_h = hi - lo
    x = hi[0] - progress * (card_w + 1.4 * card_h)
    return np.asarray(_HAND * card_h + np.array([x, (lo[1] + hi[1]) / 2]))


def _compose(
    sim: CaptureSimulator,
    rng: np.random.Generator,
    background: BGRImage,
    placements: list[tuple[int, FloatArray]],
    toploaders: list[FloatArray],
    hands: list[FloatArray],
    effects_seed: int,
    page: FloatArray | None = None,
) -> BGRImage:
    canvas = background.astype(np.float32)
    plastic_rng = np.random.default_rng(effects_seed + 1)
    if page is not None:
        # A dark page with its pockets' welded seams between the cards, under one sheet of plastic.
        cv2.fillConvexPoly(canvas, page.astype(np.int32), (40.0, 32.0, 30.0), cv2.LINE_AA)
        for _, quad in placements:
            cv2.polylines(canvas, [_expand(quad, (68.0, 93.0)).astype(np.int32)], True, (95.0, 95.0, 95.0), 2)
    for texture_index, quad in placements:
        sim._warp(canvas, texture_index, quad)
    if page is not None:
        _draw_plastic(np.random.default_rng(effects_seed + 2), canvas, page, rigid=False)
    for quad in toploaders:
        _draw_plastic(plastic_rng, canvas, _expand(quad, TOPLOADER_MM), rigid=True)
    for hand in hands:
        mask = np.zeros(canvas.shape[:2], np.uint8)
        cv2.fillPoly(mask, [hand.astype(np.int32)], 255)
        mask = cv2.GaussianBlur(mask, (0, 0), 3)
        alpha = (mask.astype(np.float32) / 255.0)[..., None]
        skin = np.array([120.0, 150.0, 205.0], np.float32)  # BGR
        shading = cv2.GaussianBlur(rng.normal(0, 8, canvas.shape[:2]).astype(np.float32), (0, 0), 9)[..., None]
        canvas = canvas * (1 - alpha) + (skin + shading) * alpha
    return _camera_effects(np.random.default_rng(effects_seed), canvas, replace(sim.options, motion_blur_prob=0.0))


# --------------------------------------------------------------------------- scanning and judging


def write_clip(scenario: Scenario, material: Material, folder: Path, seed: int, size: tuple[int, int]) -> Path:
    path = folder / f"{scenario.name}-{seed}-{size[0]}x{size[1]}.mp4"
    if path.is_file():
        return path
    partial = path.with_suffix(".partial.mp4")
    writer = cv2.VideoWriter(str(partial), cv2.VideoWriter.fourcc(*"mp4v"), FPS, size)
    try:
        for frame in render_frames(scenario, material, seed, size):
            writer.write(frame.image)
    finally:
        writer.release()
    partial.replace(path)
    return path


def scan_clip(engine: Engine, settings: Settings, clip: Path) -> tuple[list[ScanEvent], list[int]]:
    """Every event of the clip, as ``cardsight scan --source clip`` produces them (recorded source:
    each frame waits for its answers, so the events do not depend on the machine's speed), and the
    number of cards the scanner saw in each frame."""
    events: list[ScanEvent] = []
    seen: list[int] = []
    pipeline = engine.pipeline(settings, realtime=False)
    last_t = 0.0
    try:
        with VideoFileSource(clip, realtime=False) as source:
            while (frame := source.read()) is not None:
                result = pipeline.process(Frame(frame.image, frame.timestamp, frame.index))
                events += result.events
                seen.append(len(result.tracks))
                last_t = frame.timestamp
        events += pipeline.finish(last_t)
    finally:
        pipeline.close()
    return events, seen


def longest_unseen_run(scenario: Scenario, seen: Sequence[int]) -> int:
    """The most frames in a row in which a card lay in view, whole (not mid-flip), and the scanner saw
    none: how long a presentation must survive unseen (a hand over the card, a detection drop-out)."""
    longest = run = 0
    for frame_index, count in enumerate(seen):
        if showing_whole(scenario, frame_index) and count == 0:
            run += 1
            longest = max(longest, run)
        else:
            run = 0
    return longest


def presentations(events: Sequence[ScanEvent]) -> list[tuple[str, str | None]]:
    """Each decided track's last decision, in the order the tracks were first decided."""
    last: dict[int, tuple[str, str | None]] = {}
    for event in events:
        if event.event in DECISIONS:
            last[event.track] = (event.event, event.card_id if event.event in ("identified", "uncertain") else None)
    return list(last.values())


def judge(scenario: Scenario, events: Sequence[ScanEvent]) -> dict[str, Any]:
    got = presentations(events)
    expected = list(scenario.expected)
    identified_per_track = Counter(e.track for e in events if e.event == "identified")
    twice = sum(1 for n in identified_per_track.values() if n > 1)
    same = got == expected if scenario.ordered else sorted(got, key=str) == sorted(expected, key=str)
    return {
        "expected": [list(e) for e in expected],
        "got": [list(g) for g in got],
        "holds": bool(same and not twice),
        "decision_events": [
            [round(e.t, 2), e.track, e.event, e.card_id] for e in events if e.event in DECISIONS or e.event == "error"
        ],
        "presentations_identified_twice": twice,
    }
