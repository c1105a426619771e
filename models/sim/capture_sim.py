"""Capture simulator: card scans composited into camera-like frames with exact ground-truth corners.

One module shared by the tests, model training and the benchmarks. Everything is driven by a
``numpy.random.Generator``, so a seed reproduces a frame bit for bit.

What it imitates (each effect has a probability in :class:`SimOptions`):
backgrounds (wood, cloth, desk clutter with non-card rectangles, text and shapes), perspective tilt
up to 40°, any in-plane rotation, scale, rounded card corners, fingers over an edge, penny sleeves
and top-loaders (tint, reflections, their own outline), glare spots, dim light and white balance,
vignetting, motion and defocus blur, sensor noise and JPEG compression. Binder pages put several cards
in a grid of plastic pockets.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from app.camera.base import BGRImage
from app.vision.geometry import CANONICAL_SIZE

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
CARD_MM = (63.0, 88.0)
SLEEVE_MM = (66.0, 93.0)
TOPLOADER_MM = (76.0, 101.0)


@dataclass(frozen=True)
class SimOptions:
    size: tuple[int, int] = (1280, 720)  # width, height
    card_height_frac: tuple[float, float] = (0.35, 0.85)  # of the frame's shorter side
    max_tilt_deg: float = 40.0
    sleeve_prob: float = 0.2
    toploader_prob: float = 0.1
    finger_prob: float = 0.35
    glare_prob: float = 0.35
    dim_prob: float = 0.25
    motion_blur_prob: float = 0.2
    defocus_prob: float = 0.2
    jpeg_prob: float = 0.7
    clutter_prob: float = 0.5
    #: Margin kept between the card and the frame edge, in pixels.
    edge_margin: int = 4
    #: Share of frames where the card nearly fills the view (listing photos, a card held close);
    #: its edges may then touch or leave the frame.
    closeup_prob: float = 0.0


@dataclass
class SimCapture:
    image: BGRImage
    #: One (4, 2) array per card: corners TL, TR, BR, BL of the *upright* card, in image pixels.
    quads: list[FloatArray] = field(default_factory=list)
    card_indices: list[int] = field(default_factory=list)
    upside_down: list[bool] = field(default_factory=list)


def load_card_texture(path: str | Path, size: tuple[int, int] = CANONICAL_SIZE) -> BGRImage:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"cannot read card image {path}")
    return np.ascontiguousarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA))


def rounded_corner_mask(width: int, height: int, radius_frac: float = 0.045) -> npt.NDArray[np.float32]:
    """Alpha mask of a card with rounded corners (radius ≈ 3 mm on a 63 mm card)."""
    mask = np.zeros((height, width), np.uint8)
    r = max(1, round(radius_frac * width))
    cv2.rectangle(mask, (r, 0), (width - 1 - r, height - 1), 255, -1)
    cv2.rectangle(mask, (0, r), (width - 1, height - 1 - r), 255, -1)
    for cx, cy in ((r, r), (width - 1 - r, r), (r, height - 1 - r), (width - 1 - r, height - 1 - r)):
        cv2.circle(mask, (cx, cy), r, 255, -1, lineType=cv2.LINE_AA)
    return mask.astype(np.float32) / 255.0


# --------------------------------------------------------------------------- backgrounds


def _smooth_noise(rng: np.random.Generator, width: int, height: int, cells: int) -> npt.NDArray[np.float32]:
    small = rng.random((max(2, cells * height // width), max(2, cells))).astype(np.float32)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)


def _random_colour(rng: np.random.Generator, lo: int = 20, hi: int = 235) -> tuple[float, float, float]:
    c = rng.integers(lo, hi, size=3)
    return float(c[0]), float(c[1]), float(c[2])


def render_background(rng: np.random.Generator, size: tuple[int, int], clutter: bool = True) -> BGRImage:
    """A card-free scene: a table, mat or cloth, optionally with desk clutter."""
    width, height = size
    kind = rng.choice(["wood", "cloth", "plain", "mat"])
    base = np.array(_random_colour(rng), np.float32)
    if kind == "wood":
        angle = rng.uniform(0, math.pi)
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
        coord = xx * math.cos(angle) + yy * math.sin(angle)
        warp = _smooth_noise(rng, width, height, 6) * rng.uniform(20, 60)
        grain = 0.5 + 0.5 * np.sin((coord + warp) / rng.uniform(3, 12))
        shade = 0.75 + 0.35 * grain[..., None]
        img = base[None, None, :] * shade
    elif kind == "cloth":
        fine = rng.normal(0, 1, (height, width)).astype(np.float32)
        fine = cv2.GaussianBlur(fine, (0, 0), rng.uniform(0.6, 1.5))
        img = base[None, None, :] * (1.0 + 0.08 * fine[..., None])
        img *= (0.8 + 0.4 * _smooth_noise(rng, width, height, 4))[..., None]
    elif kind == "mat":
        img = np.empty((height, width, 3), np.float32)
        img[:] = base
        step = int(rng.integers(25, 80))
        line_colour = tuple(float(v) for v in np.clip(base * rng.uniform(0.8, 1.2), 0, 255))
        for x in range(int(rng.integers(0, step)), width, step):
            cv2.line(img, (x, 0), (x, height), line_colour, 1, cv2.LINE_AA)
        for y in range(int(rng.integers(0, step)), height, step):
            cv2.line(img, (0, y), (width, y), line_colour, 1, cv2.LINE_AA)
    else:
        img = np.empty((height, width, 3), np.float32)
        img[:] = base
        img *= (0.7 + 0.5 * _smooth_noise(rng, width, height, 3))[..., None]
    out = np.clip(img, 0, 255).astype(np.uint8)
    if clutter:
        _draw_clutter(rng, out)
    return out


def _draw_clutter(rng: np.random.Generator, img: BGRImage) -> None:
    """Desk objects that are *not* cards: long/square boxes, discs, pens, printed text."""
    height, width = img.shape[:2]
    for _ in range(int(rng.integers(1, 7))):
        kind = rng.choice(["box", "disc", "pen", "text"])
        colour = _random_colour(rng)
        cx, cy = float(rng.uniform(0, width)), float(rng.uniform(0, height))
        if kind == "box":
            # Aspect ratios far from a card's 0.72 (phones ≈ 0.47, coasters 1.0, rulers ≪ 0.3).
            long_side = float(rng.uniform(0.1, 0.6) * min(width, height))
            aspect = float(rng.choice([rng.uniform(0.08, 0.5), rng.uniform(0.93, 1.0)]))
            rect = ((cx, cy), (long_side, long_side * aspect), float(rng.uniform(0, 180)))
            box = cv2.boxPoints(rect).astype(np.int32)
            cv2.fillConvexPoly(img, box, colour, cv2.LINE_AA)
            if rng.random() < 0.5:
                inner = cv2.boxPoints((rect[0], (rect[1][0] * 0.8, rect[1][1] * 0.8), rect[2])).astype(np.int32)
                cv2.fillConvexPoly(img, inner, _random_colour(rng), cv2.LINE_AA)
        elif kind == "disc":
            r = int(rng.uniform(0.03, 0.15) * min(width, height))
            cv2.circle(img, (int(cx), int(cy)), r, colour, -1, cv2.LINE_AA)
        elif kind == "pen":
            length = rng.uniform(0.2, 0.5) * width
            angle = rng.uniform(0, math.pi)
            p1 = (int(cx), int(cy))
            p2 = (int(cx + length * math.cos(angle)), int(cy + length * math.sin(angle)))
            cv2.line(img, p1, p2, colour, int(rng.integers(4, 14)), cv2.LINE_AA)
        else:
            words = ["receipt", "TOTAL 12.99", "Pokemon", "deck list", "x4 Energy", "notes", "2024"]
            for line in range(int(rng.integers(1, 5))):
                cv2.putText(
                    img,
                    str(rng.choice(words)),
                    (int(cx), int(cy) + line * 22),
                    cv2.FONT_HERSHEY_SIMPLEX,
                    float(rng.uniform(0.5, 1.0)),
                    colour,
                    int(rng.integers(1, 3)),
                    cv2.LINE_AA,
                )


# --------------------------------------------------------------------------- geometry


def _rotation(axis: FloatArray, angle: float) -> FloatArray:
    axis = axis / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + math.sin(angle) * k + (1 - math.cos(angle)) * (k @ k)


def project_card(
    rng: np.random.Generator,
    frame_size: tuple[int, int],
    card_height_px: float,
    max_tilt_deg: float,
    roll: float,
    extent_mm: tuple[float, float] = CARD_MM,
) -> tuple[FloatArray, FloatArray]:
    """Corners TL, TR, BR, BL (card and ``extent_mm`` rectangle) of a card posed in 3-D, centred at 0.

    Returns (card_corners, extent_corners) in pixels relative to the projected card centre.
    """
    width, _ = frame_size
    focal = width * rng.uniform(0.8, 1.3)
    tilt = math.radians(rng.uniform(0, max_tilt_deg))
    tilt_axis_angle = rng.uniform(0, 2 * math.pi)
    tilt_rot = _rotation(np.array([math.cos(tilt_axis_angle), math.sin(tilt_axis_angle), 0.0]), tilt)
    roll_rot = _rotation(np.array([0.0, 0.0, 1.0]), roll)
    rot = tilt_rot @ roll_rot
    distance = focal * CARD_MM[1] / card_height_px

    def corners(mm: tuple[float, float]) -> FloatArray:
        w, h = mm[0] / 2, mm[1] / 2
        local = np.array([[-w, -h, 0], [w, -h, 0], [w, h, 0], [-w, h, 0]], np.float64)
        world = local @ rot.T + np.array([0.0, 0.0, distance])
        return np.asarray(focal * world[:, :2] / world[:, 2:3])

    return corners(CARD_MM), corners(extent_mm)


# --------------------------------------------------------------------------- compositing


def _composite(canvas: npt.NDArray[np.float32], layer: npt.NDArray[np.float32], alpha: npt.NDArray[np.float32]) -> None:
    a = alpha[..., None]
    canvas *= 1.0 - a
    canvas += layer * a


def _warp_card(
    canvas: npt.NDArray[np.float32], texture: BGRImage, quad: FloatArray, mask: npt.NDArray[np.float32]
) -> None:
    h, w = texture.shape[:2]
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    matrix = cv2.getPerspectiveTransform(src, quad.astype(np.float32))
    size = (canvas.shape[1], canvas.shape[0])
    layer = cv2.warpPerspective(texture, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    alpha = cv2.warpPerspective(mask, matrix, size, flags=cv2.INTER_LINEAR, borderValue=0)
    _composite(canvas, layer.astype(np.float32), alpha)


def _draw_plastic(rng: np.random.Generator, canvas: npt.NDArray[np.float32], quad: FloatArray, rigid: bool) -> None:
    """A sleeve (thin, soft) or top-loader (rigid, with a visible rim) over the card."""
    height, width = canvas.shape[:2]
    mask = np.zeros((height, width), np.float32)
    cv2.fillConvexPoly(mask, quad.astype(np.int32), 1.0, cv2.LINE_AA)
    tint = np.array(_random_colour(rng, 200, 255), np.float32)
    strength = rng.uniform(0.12, 0.25) if rigid else rng.uniform(0.05, 0.15)
    layer = np.empty_like(canvas)
    layer[:] = tint
    _composite(canvas, layer, mask * strength)
    # A diagonal reflection streak across the plastic.
    streak = np.zeros((height, width), np.float32)
    p0, p2 = quad[0], quad[2]
    t0, t1 = rng.uniform(0.1, 0.6), rng.uniform(0.4, 0.9)
    a = p0 + (p2 - p0) * t0
    b = p0 + (p2 - p0) * t1
    normal = np.array([-(p2 - p0)[1], (p2 - p0)[0]])
    normal = normal / (np.linalg.norm(normal) + 1e-9) * rng.uniform(20, 120)
    cv2.fillConvexPoly(streak, np.array([a - normal, a + normal, b + normal, b - normal]).astype(np.int32), 1.0)
    streak = cv2.GaussianBlur(streak, (0, 0), rng.uniform(8, 25)) * mask
    canvas += streak[..., None] * rng.uniform(20, 70)
    rim = tuple(float(v) for v in tint * rng.uniform(0.8, 1.0))
    thickness = int(rng.integers(2, 5)) if rigid else 1
    rim_alpha = rng.uniform(0.3, 0.6) if rigid else rng.uniform(0.1, 0.3)
    rim_layer = canvas.copy()
    cv2.polylines(rim_layer, [quad.astype(np.int32)], True, rim, thickness, cv2.LINE_AA)
    canvas *= 1.0 - rim_alpha
    canvas += rim_layer * rim_alpha


def _draw_finger(rng: np.random.Generator, canvas: npt.NDArray[np.float32], quad: FloatArray) -> None:
    """A finger coming from outside across one edge (never covering a corner)."""
    side = int(rng.integers(0, 4))
    p, q = quad[side], quad[(side + 1) % 4]
    centre = quad.mean(axis=0)
    t = rng.uniform(0.25, 0.75)
    on_edge = p + (q - p) * t
    inward = centre - on_edge
    inward /= np.linalg.norm(inward) + 1e-9
    edge_len = float(np.linalg.norm(q - p))
    finger_w = edge_len * rng.uniform(0.10, 0.18)
    depth = edge_len * rng.uniform(0.03, 0.10)
    length = finger_w * rng.uniform(2.5, 4.0)
    tip = on_edge + inward * depth
    centre_f = tip - inward * (length / 2)
    angle = math.degrees(math.atan2(inward[1], inward[0]))
    skin = np.array([rng.uniform(90, 150), rng.uniform(120, 180), rng.uniform(170, 235)], np.float32)
    layer = canvas.copy()
    cv2.ellipse(
        layer,
        (int(centre_f[0]), int(centre_f[1])),
        (int(length / 2), int(finger_w / 2)),
        angle,
        0,
        360,
        tuple(float(v) for v in skin),
        -1,
        cv2.LINE_AA,
    )
    canvas[:] = layer


def _draw_glare(rng: np.random.Generator, canvas: npt.NDArray[np.float32], quad: FloatArray) -> None:
    height, width = canvas.shape[:2]
    w = float(np.linalg.norm(quad[1] - quad[0]))
    weights = rng.dirichlet(np.ones(4))
    centre = (weights[:, None] * quad).sum(axis=0)
    sx = max(2.0, w * float(rng.uniform(0.05, 0.2)))
    sy = sx * float(rng.uniform(0.4, 1.0))
    # Only the 3-sigma box around the spot is touched (cheap on large frames).
    x0, x1 = int(max(0, centre[0] - 3 * sx)), int(min(width, centre[0] + 3 * sx + 1))
    y0, y1 = int(max(0, centre[1] - 3 * sy)), int(min(height, centre[1] + 3 * sy + 1))
    if x1 <= x0 or y1 <= y0:
        return
    yy, xx = np.ogrid[y0:y1, x0:x1]
    blob = np.exp(-(((xx - centre[0]) ** 2) / (2 * sx**2) + ((yy - centre[1]) ** 2) / (2 * sy**2)))
    canvas[y0:y1, x0:x1] += blob[..., None].astype(np.float32) * np.float32(rng.uniform(120, 260))


def _camera_effects(rng: np.random.Generator, canvas: npt.NDArray[np.float32], options: SimOptions) -> BGRImage:
    height, width = canvas.shape[:2]
    gains = rng.uniform(0.85, 1.15, size=3).astype(np.float32)
    canvas *= gains[None, None, :]
    dim = rng.random() < options.dim_prob
    if dim:
        canvas *= rng.uniform(0.3, 0.6)
    yy, xx = np.ogrid[0:height, 0:width]
    r2 = ((xx - width / 2) / (width / 2)) ** 2 + ((yy - height / 2) / (height / 2)) ** 2
    canvas *= (1.0 - rng.uniform(0.0, 0.3) * r2 / 2)[..., None].astype(np.float32)
    if rng.random() < options.motion_blur_prob:
        k = int(rng.integers(3, 10))
        kernel = np.zeros((k, k), np.float32)
        kernel[k // 2, :] = 1.0
        rot = cv2.getRotationMatrix2D((k / 2 - 0.5, k / 2 - 0.5), float(rng.uniform(0, 180)), 1.0)
        kernel = cv2.warpAffine(kernel, rot, (k, k))
        canvas = cv2.filter2D(canvas, -1, kernel / max(kernel.sum(), 1e-6))
    if rng.random() < options.defocus_prob:
        radius = int(rng.integers(1, 4))
        kernel = np.zeros((2 * radius + 1, 2 * radius + 1), np.float32)
        cv2.circle(kernel, (radius, radius), radius, 1.0, -1)
        canvas = cv2.filter2D(canvas, -1, kernel / kernel.sum())
    sigma = rng.uniform(1, 4) + (rng.uniform(3, 8) if dim else 0)
    canvas += rng.standard_normal(canvas.shape, dtype=np.float32) * np.float32(sigma)
    image = np.clip(canvas, 0, 255).astype(np.uint8)
    if rng.random() < options.jpeg_prob:
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(45, 95))])
        if ok:
            image = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return image


# --------------------------------------------------------------------------- the simulator


class CaptureSimulator:
    """Renders simulated camera captures of the given card textures (BGR, any size)."""

    def __init__(self, textures: Sequence[BGRImage], options: SimOptions | None = None) -> None:
        if not textures:
            raise ValueError("the simulator needs at least one card texture")
        self.textures = [
            t if t.shape[1::-1] == CANONICAL_SIZE else cv2.resize(t, CANONICAL_SIZE, interpolation=cv2.INTER_AREA)
            for t in textures
        ]
        self.options = options or SimOptions()
        self._mask = rounded_corner_mask(*CANONICAL_SIZE)

    @classmethod
    def from_paths(cls, paths: Sequence[str | Path], options: SimOptions | None = None) -> CaptureSimulator:
        return cls([load_card_texture(p) for p in paths], options)

    def background(self, rng: np.random.Generator) -> BGRImage:
        return render_background(rng, self.options.size, clutter=rng.random() < self.options.clutter_prob)

    def pose(self, rng: np.random.Generator, card_height_px: float, roll: float | None = None) -> FloatArray:
        """Card corners (TL, TR, BR, BL) posed somewhere fully inside the frame."""
        width, height = self.options.size
        margin = self.options.edge_margin
        for _ in range(50):
            roll_angle = rng.uniform(0, 2 * math.pi) if roll is None else roll
            quad, _ = project_card(rng, self.options.size, card_height_px, self.options.max_tilt_deg, roll_angle)
            lo, hi = quad.min(axis=0), quad.max(axis=0)
            span = hi - lo
            if span[0] > width - 2 * margin or span[1] > height - 2 * margin:
                card_height_px *= 0.9
                continue
            offset = np.array(
                [
                    rng.uniform(margin - lo[0], width - margin - hi[0]),
                    rng.uniform(margin - lo[1], height - margin - hi[1]),
                ]
            )
            return np.asarray(quad + offset)
        raise RuntimeError("could not place a card inside the frame")

    def closeup_pose(self, rng: np.random.Generator) -> FloatArray:
        """A card filling most of the frame, nearly upright (or upside down), edges near the border."""
        width, height = self.options.size
        roll = rng.normal(0, math.radians(2)) + (math.pi if rng.random() < 0.5 else 0.0)
        if rng.random() < 0.5:
            roll += math.pi / 2  # landscape frame, card lying sideways
        quad, _ = project_card(rng, self.options.size, 100.0, 8.0, roll)
        span = quad.max(axis=0) - quad.min(axis=0)
        fill = rng.uniform(0.88, 1.02)
        quad = quad * min(width * fill / span[0], height * fill / span[1])
        centre = np.array([width / 2, height / 2]) + rng.normal(0, 0.01, 2) * [width, height]
        return np.asarray(quad - quad.mean(axis=0) + centre)

    def render(self, rng: np.random.Generator, card_index: int | None = None) -> SimCapture:
        """One frame with one card."""
        options = self.options
        index = int(rng.integers(0, len(self.textures))) if card_index is None else card_index
        width, height = options.size
        if rng.random() < options.closeup_prob:
            quad = self.closeup_pose(rng)
        else:
            card_h = rng.uniform(*options.card_height_frac) * min(width, height)
            quad = self.pose(rng, card_h)
        canvas = self.background(rng).astype(np.float32)
        # Any in-plane rotation is possible, so about half of all cards appear upside down.
        upside_down = bool(quad[3][1] - quad[0][1] < 0)
        self._place(rng, canvas, index, quad)
        image = _camera_effects(rng, canvas, options)
        return SimCapture(image, [quad], [index], [upside_down])

    def render_held(
        self,
        rng: np.random.Generator,
        n_frames: int,
        card_index: int | None = None,
        sway_px: float = 40.0,
        period_frames: float = 30.0,
    ) -> list[SimCapture]:
        """One card held in front of the camera for ``n_frames`` consecutive frames: the scene of
        :meth:`render` (background, sleeve, finger, glare, light, blur, noise — drawn once) while the
        hand sways the card by up to ``sway_px`` each way, once every ``period_frames`` frames, and
        turns it a little. Peak speed is 2π·sway/period pixels a frame (~8 at the defaults: a
        slowly moving hand at 30 fps)."""
        options = self.options
        index = int(rng.integers(0, len(self.textures))) if card_index is None else card_index
        width, height = options.size
        card_h = rng.uniform(*options.card_height_frac) * min(width, height)
        rest = self.pose(rng, card_h)
        # The sway stays inside the frame: at most the room the pose left on each side.
        lo, hi = rest.min(axis=0), rest.max(axis=0)
        turn = rng.uniform(-1.0, 1.0) * math.radians(3)  # peak in-plane turn
        radius = float(np.linalg.norm(rest - rest.mean(axis=0), axis=1).max())
        room = np.minimum(lo, np.array([width, height]) - 1 - hi) - options.edge_margin - abs(turn) * radius
        amplitude = np.minimum(rng.uniform(0.3, 1.0, 2) * sway_px, np.maximum(room, 0.0))
        phase = rng.uniform(0, 2 * math.pi, 2)
        background = self.background(rng)
        scene_seed = int(rng.integers(0, 2**31))
        upside_down = bool(rest[3][1] - rest[0][1] < 0)
        frames = []
        for k in range(n_frames):
            wave = np.sin(2 * math.pi * k / period_frames + phase)
            angle = turn * math.sin(2 * math.pi * k / period_frames)
            rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
            centre = rest.mean(axis=0)
            quad = (rest - centre) @ rotation.T + centre + amplitude * wave
            # The same draws every frame: the sleeve, finger and glare move with the card, and the
            # camera's light and noise stay put, as in a real clip.
            scene_rng = np.random.default_rng(scene_seed)
            canvas = background.astype(np.float32)
            self._place(scene_rng, canvas, index, quad)
            image = _camera_effects(scene_rng, canvas, options)
            frames.append(SimCapture(image, [quad], [index], [upside_down]))
        return frames

    def render_multi(self, rng: np.random.Generator, n_cards: int) -> SimCapture:
        """Several cards lying apart on a table."""
        width, height = self.options.size
        canvas = self.background(rng).astype(np.float32)
        capture = SimCapture(canvas.astype(np.uint8))
        occupied = np.zeros((height, width), np.uint8)
        for _ in range(n_cards * 10):
            if len(capture.quads) == n_cards:
                break
            card_h = rng.uniform(0.25, 0.5) * min(width, height)
            quad = self.pose(rng, card_h)
            mask = np.zeros_like(occupied)
            cv2.fillConvexPoly(mask, quad.astype(np.int32), 1)
            if (mask & occupied).any():
                continue
            occupied |= cv2.dilate(mask, np.ones((9, 9), np.uint8))
            index = int(rng.integers(0, len(self.textures)))
            self._place(rng, canvas, index, quad)
            capture.quads.append(quad)
            capture.card_indices.append(index)
            capture.upside_down.append(bool(quad[3][1] - quad[0][1] < 0))
        capture.image = _camera_effects(rng, canvas, self.options)
        return capture

    def render_scene(
        self,
        rng: np.random.Generator,
        placements: Sequence[tuple[int, FloatArray]],
        background: BGRImage | None = None,
        effects: bool = True,
        effects_seed: int | None = None,
    ) -> SimCapture:
        """Frame with cards at given corner positions (TL, TR, BR, BL); used for clips and binders."""
        canvas = (self.background(rng) if background is None else background).astype(np.float32)
        capture = SimCapture(canvas.astype(np.uint8))
        for index, quad in placements:
            self._place(rng, canvas, index, np.asarray(quad, np.float64), plastic=False, finger=False, glare=False)
            capture.quads.append(np.asarray(quad, np.float64))
            capture.card_indices.append(index)
            capture.upside_down.append(False)
        # A fixed effects seed keeps white balance and exposure steady across the frames of a clip.
        effects_rng = rng if effects_seed is None else np.random.default_rng(effects_seed)
        capture.image = (
            _camera_effects(effects_rng, canvas, replace(self.options, motion_blur_prob=0.0))
            if effects
            else np.clip(canvas, 0, 255).astype(np.uint8)
        )
        return capture

    def render_binder_page(self, rng: np.random.Generator, n_cards: int = 4) -> SimCapture:
        """A binder page seen from above: a 3×3 pocket grid, ``n_cards`` pockets filled."""
        width, height = self.options.size
        page_colour = _random_colour(rng, 10, 80)
        canvas = np.empty((height, width, 3), np.float32)
        canvas[:] = page_colour
        rows, cols = 3, 3
        card_h = height / rows * 0.86
        card_w = card_h * CARD_MM[0] / CARD_MM[1]
        gap_x = (width - cols * card_w) / (cols + 1)
        gap_y = (height - rows * card_h) / (rows + 1)
        pockets = rng.permutation(rows * cols)[:n_cards]
        quads: list[FloatArray] = []
        indices: list[int] = []
        # A mild common tilt: the page is photographed slightly off-axis.
        src = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32)
        jitter = rng.uniform(-0.04, 0.04, size=(4, 2)) * np.array([width, height])
        dst = (src + jitter).astype(np.float32)
        page_h = cv2.getPerspectiveTransform(src, dst)
        for r in range(rows):
            for c in range(cols):
                x0 = gap_x + c * (card_w + gap_x)
                y0 = gap_y + r * (card_h + gap_y)
                pocket = np.array(
                    [
                        [x0 - 4, y0 - 4],
                        [x0 + card_w + 4, y0 - 4],
                        [x0 + card_w + 4, y0 + card_h + 4],
                        [x0 - 4, y0 + card_h + 4],
                    ]
                )
                pocket_img = cv2.perspectiveTransform(pocket[None].astype(np.float32), page_h)[0]
                cv2.polylines(canvas, [pocket_img.astype(np.int32)], True, (90, 90, 90), 1, cv2.LINE_AA)
        for pocket_index in pockets:
            r, c = divmod(int(pocket_index), cols)
            x0 = gap_x + c * (card_w + gap_x)
            y0 = gap_y + r * (card_h + gap_y)
            quad = np.array([[x0, y0], [x0 + card_w, y0], [x0 + card_w, y0 + card_h], [x0, y0 + card_h]])
            quad = cv2.perspectiveTransform(quad[None].astype(np.float32), page_h)[0].astype(np.float64)
            index = int(rng.integers(0, len(self.textures)))
            self._warp(canvas, index, quad)
            quads.append(quad)
            indices.append(index)
        page_quad = cv2.perspectiveTransform(src[None], page_h)[0].astype(np.float64)
        _draw_plastic(rng, canvas, page_quad, rigid=False)
        image = _camera_effects(rng, canvas, replace(self.options, motion_blur_prob=0.0, dim_prob=0.0))
        return SimCapture(image, quads, indices, [False] * len(quads))

    def _warp(self, canvas: npt.NDArray[np.float32], index: int, quad: FloatArray) -> None:
        _warp_card(canvas, self.textures[index], quad, self._mask)

    def _place(
        self,
        rng: np.random.Generator,
        canvas: npt.NDArray[np.float32],
        index: int,
        quad: FloatArray,
        plastic: bool = True,
        finger: bool = True,
        glare: bool = True,
    ) -> None:
        options = self.options
        self._warp(canvas, index, quad)
        if plastic:
            roll = rng.random()
            if roll < options.toploader_prob:
                _draw_plastic(rng, canvas, _expand(quad, TOPLOADER_MM), rigid=True)
            elif roll < options.toploader_prob + options.sleeve_prob:
                _draw_plastic(rng, canvas, _expand(quad, SLEEVE_MM), rigid=False)
        if glare and rng.random() < options.glare_prob:
            _draw_glare(rng, canvas, quad)
        if finger and rng.random() < options.finger_prob:
            for _ in range(int(rng.integers(1, 3))):
                _draw_finger(rng, canvas, quad)


def _expand(quad: FloatArray, extent_mm: tuple[float, float]) -> FloatArray:
    """The projected rectangle of ``extent_mm`` centred on the card (through the card's homography)."""
    src = np.array([[0, 0], [CARD_MM[0], 0], [CARD_MM[0], CARD_MM[1]], [0, CARD_MM[1]]], np.float32)
    matrix = cv2.getPerspectiveTransform(src, quad.astype(np.float32))
    dx, dy = (extent_mm[0] - CARD_MM[0]) / 2, (extent_mm[1] - CARD_MM[1]) / 2
    outer = np.array(
        [[-dx, -dy], [CARD_MM[0] + dx, -dy], [CARD_MM[0] + dx, CARD_MM[1] + dy], [-dx, CARD_MM[1] + dy]],
        np.float32,
    )
    return cv2.perspectiveTransform(outer[None], matrix)[0].astype(np.float64)


def catalogue_image_paths(catalog_dir: str | Path) -> list[Path]:
    """All card images of a pokemontcg.io-layout catalogue folder (``images/<set>/<card_id>.*``)."""
    root = Path(catalog_dir) / "images"
    return sorted(p for p in root.glob("*/*") if p.suffix.lower() in {".jpg", ".jpeg", ".png", ".webp"})


# --------------------------------------------------------------------------- clips


@dataclass
class ClipFrame:
    image: BGRImage
    timestamp: float
    quads: list[FloatArray]
    card_indices: list[int]


def _smoothstep(x: float) -> float:
    x = min(max(x, 0.0), 1.0)
    return x * x * (3 - 2 * x)


def render_clip(
    sim: CaptureSimulator, rng: np.random.Generator, card_indices: Sequence[int], **timing: float
) -> list[ClipFrame]:
    """Cards presented one after another: each slides in, is held (slightly shaking), slides out.
    Ground truth per frame: the quads of the cards fully in view. ``timing``: see :func:`iter_clip`."""
    return list(iter_clip(sim, rng, card_indices, **timing))


def iter_clip(
    sim: CaptureSimulator,
    rng: np.random.Generator,
    card_indices: Sequence[int],
    fps: float = 15.0,
    enter_s: float = 1.0,
    hold_s: float = 2.0,
    leave_s: float = 0.8,
    gap_s: float = 0.7,
) -> Iterator[ClipFrame]:
    """:func:`render_clip` one frame at a time (a minute at 30 fps does not fit in memory as a list).
    Card ``k`` is in the picture from ``k·(enter+hold+leave+gap)`` for ``enter+hold+leave`` seconds."""
    width, height = sim.options.size
    background = sim.background(rng)
    effects_seed = int(rng.integers(0, 2**31))
    t = 0.0
    per_card = enter_s + hold_s + leave_s + gap_s
    total = per_card * len(card_indices)
    n_frames = int(total * fps)
    plans = []
    for k, index in enumerate(card_indices):
        card_h = rng.uniform(0.5, 0.75) * height
        rest = sim.pose(rng, card_h)
        side = rng.choice([-1.0, 1.0])
        offset = np.array([side * (width * 0.5 + card_h), rng.uniform(-0.1, 0.1) * height])
        plans.append((k * per_card, index, rest, offset, rng.uniform(0, 2 * math.pi)))
    for frame_index in range(n_frames):
        t = frame_index / fps
        placements = []
        truths = []
        for start, index, rest, offset, phase in plans:
            local = t - start
            if local < 0 or local > enter_s + hold_s + leave_s:
                continue
            if local < enter_s:
                shift = offset * (1 - _smoothstep(local / enter_s))
            elif local < enter_s + hold_s:
                shift = np.zeros(2)
            else:
                shift = -offset * _smoothstep((local - enter_s - hold_s) / leave_s)
            # A hand is never perfectly still: a pixel or two of tremor.
            tremor = np.array([math.sin(7.1 * t + phase), math.cos(5.3 * t + phase)]) * 1.2
            quad = rest + shift + tremor
            placements.append((index, quad))
            inside = (
                (quad[:, 0] >= 0).all()
                and (quad[:, 0] < width).all()
                and (quad[:, 1] >= 0).all()
                and (quad[:, 1] < height).all()
            )
            if inside:
                truths.append((index, quad))
        capture = sim.render_scene(rng, placements, background=background, effects_seed=effects_seed)
        yield ClipFrame(capture.image, t, [q for _, q in truths], [i for i, _ in truths])


def write_clip(frames: Sequence[ClipFrame], path: str | Path, fps: float = 15.0) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    height, width = frames[0].image.shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, (width, height))
    if not writer.isOpened():
        raise RuntimeError(f"cannot write video {path}")
    try:
        for frame in frames:
            writer.write(frame.image)
    finally:
        writer.release()


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m models.sim.capture_sim demo --catalog DIR --out assets/demo.mp4``: render the demo clip."""
    import argparse

    parser = argparse.ArgumentParser(description="Render the bundled demo clip with the capture simulator.")
    parser.add_argument("what", choices=["demo"])
    parser.add_argument("--catalog", default="../shared/data/pokemon-tcg")
    parser.add_argument("--out", default="assets/demo.mp4")
    parser.add_argument("--cards", default="sv3pt5-25,sv5-10,xy12-1,sv5-123")
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--fps", type=float, default=15.0)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.split("x"))
    wanted = args.cards.split(",")
    paths = {p.stem: p for p in catalogue_image_paths(args.catalog)}
    missing = [c for c in wanted if c not in paths]
    if missing:
        raise SystemExit(f"cards not in the catalogue: {', '.join(missing)}")
    options = SimOptions(size=(width, height), max_tilt_deg=20.0, clutter_prob=0.0, dim_prob=0.0, defocus_prob=0.0)
    sim = CaptureSimulator.from_paths([paths[c] for c in wanted], options)
    frames = render_clip(sim, np.random.default_rng(args.seed), list(range(len(wanted))), fps=args.fps)
    write_clip(frames, args.out, args.fps)
    print(f"wrote {args.out}: {len(frames)} frames, {len(frames) / args.fps:.1f} s, cards {', '.join(wanted)}")


if __name__ == "__main__":
    main()
