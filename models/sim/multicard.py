"""Multi-card scenes: binder pages, rows of top-loaders, cards touching on a table, cards cut by the frame.

Real phone photos of a collection rarely show one card: a sleeved binder page (2×2, 3×3 or 4×3
pockets) nearly has a card's aspect ratio as a whole, top-loaders lie in rows, cards touch on a table
and the frame cuts a few. Every scene is laid out on a flat plane in millimetres and seen through a
camera (a homography with tilt and roll), so the cards, pockets, seams and rims share one
perspective. Card faces are real material: catalogue scans and card fronts/backs cropped out of the
eBay listing photos (``models.finder.data.ebay_card_textures``).

Ground truth: the corners (TL, TR, BR, BL) of every card fully inside the frame; ``cut`` holds the
cards the frame edge cuts, and ``pages`` the outline of the binder page (a finder must report neither
a page nor a group of cards as a card).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import cv2
import numpy as np
import numpy.typing as npt

from app.camera.base import BGRImage
from app.vision.geometry import CANONICAL_SIZE, mean_corner_error, quad_diagonal
from models.sim.capture_sim import (
    CARD_MM,
    SLEEVE_MM,
    TOPLOADER_MM,
    FloatArray,
    SimOptions,
    _camera_effects,
    _composite,
    _random_colour,
    _rotation,
    _smooth_noise,
    render_background,
    rounded_corner_mask,
)

logger = logging.getLogger(__name__)

#: Scene kinds, each with its own layout (see :func:`render_multicard`).
SCENE_KINDS = (
    "binder_2x2",
    "binder_3x3",
    "binder_4x3",
    "binder_3x3_small",
    "toploader_rows",
    "touching_table",
    "cut_by_frame",
)
#: A pocket's pitch on a page: a sleeve-sized pocket and the welded seam between two.
POCKET_MM = (SLEEVE_MM[0] + 1.0, SLEEVE_MM[1] - 1.0)
SEAM_MM = 3.0
#: The frame sizes of phone photos (landscape and portrait 4:3) and a 16:9 webcam.
SCENE_SIZES = ((1280, 960), (960, 1280), (1280, 720))
#: A card counts as found when its outline's mean corner error is within this share of its diagonal.
LOCATED = 0.05


@dataclass
class MultiCardScene:
    kind: str
    image: BGRImage
    #: Corners TL, TR, BR, BL of each card fully inside the frame (pixels).
    cards: list[FloatArray] = field(default_factory=list)
    #: Cards the frame cuts (not counted as present; a find on one is not a false card).
    cut: list[FloatArray] = field(default_factory=list)
    #: Outlines of binder pages and other groups of cards (never a card).
    pages: list[FloatArray] = field(default_factory=list)


def _plane_to_frame(
    rng: np.random.Generator,
    frame_size: tuple[int, int],
    extent_mm: tuple[float, float],
    fill: float,
    max_tilt_deg: float,
    roll: float,
    centre_jitter: float = 0.04,
) -> FloatArray:
    """A homography from a plane (mm, origin at the extent's top-left) to the frame: the plane tilted
    by up to ``max_tilt_deg``, turned by ``roll``, and scaled so the extent's bounding box spans
    ``fill`` of the frame (the larger of its two relative spans)."""
    width, height = frame_size
    w, h = extent_mm
    tilt = math.radians(rng.uniform(0, max_tilt_deg))
    axis_angle = rng.uniform(0, 2 * math.pi)
    rot = _rotation(np.array([math.cos(axis_angle), math.sin(axis_angle), 0.0]), tilt) @ _rotation(
        np.array([0.0, 0.0, 1.0]), roll
    )
    focal = width * rng.uniform(0.8, 1.2)
    local = np.array([[-w / 2, -h / 2, 0], [w / 2, -h / 2, 0], [w / 2, h / 2, 0], [-w / 2, h / 2, 0]])
    world = local @ rot.T + np.array([0.0, 0.0, 2.5 * max(w, h)])
    projected = focal * world[:, :2] / world[:, 2:3]
    span = projected.max(axis=0) - projected.min(axis=0)
    projected *= fill / max(span[0] / width, span[1] / height)
    centre = np.array([width / 2, height / 2]) * (1 + rng.uniform(-centre_jitter, centre_jitter, 2))
    projected += centre - (projected.max(axis=0) + projected.min(axis=0)) / 2
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    return np.asarray(cv2.getPerspectiveTransform(src, projected.astype(np.float32)), np.float64)


def _project(homography: FloatArray, points_mm: FloatArray) -> FloatArray:
    return np.asarray(cv2.perspectiveTransform(points_mm[None].astype(np.float64), homography)[0], np.float64)


def _rect(x: float, y: float, w: float, h: float) -> FloatArray:
    return np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], np.float64)


def _fully_inside(quad: FloatArray, frame_size: tuple[int, int], margin: float = 2.0) -> bool:
    width, height = frame_size
    return bool(
        (quad[:, 0] >= margin).all()
        and (quad[:, 0] <= width - 1 - margin).all()
        and (quad[:, 1] >= margin).all()
        and (quad[:, 1] <= height - 1 - margin).all()
    )


def _overlaps_frame(quad: FloatArray, frame_size: tuple[int, int]) -> bool:
    width, height = frame_size
    lo, hi = quad.min(axis=0), quad.max(axis=0)
    return bool(hi[0] > 0 and hi[1] > 0 and lo[0] < width - 1 and lo[1] < height - 1)


def stone_background(rng: np.random.Generator, size: tuple[int, int]) -> BGRImage:
    """A stone table: mottled grey-beige with speckles and a few darker veins."""
    width, height = size
    base = np.array(_random_colour(rng, 90, 200), np.float32)
    grey = base.mean()
    base = 0.7 * grey + 0.3 * base  # stone is nearly grey
    mottle = 0.8 * _smooth_noise(rng, width, height, 8) + 0.4 * _smooth_noise(rng, width, height, 30)
    speckle = cv2.GaussianBlur(rng.normal(0, 1, (height, width)).astype(np.float32), (0, 0), 0.8)
    img = base[None, None, :] * (0.75 + 0.3 * mottle[..., None] + 0.05 * speckle[..., None])
    for _ in range(int(rng.integers(0, 4))):
        points = np.cumsum(rng.normal(0, 40, (12, 2)), axis=0) + rng.uniform(0, 1, 2) * [width, height]
        cv2.polylines(img, [points.astype(np.int32)], False, tuple(float(v) for v in base * 0.6), 2, cv2.LINE_AA)
    return np.clip(cv2.GaussianBlur(img, (0, 0), 0.7), 0, 255).astype(np.uint8)


def table_background(rng: np.random.Generator, size: tuple[int, int]) -> BGRImage:
    """A wooden or stone table, without desk clutter (cards cover most of it)."""
    if rng.random() < 0.5:
        return stone_background(rng, size)
    for _ in range(20):  # render_background picks among wood, cloth, mat and plain; a table is wood here
        state = rng.bit_generator.state
        if rng.choice(["wood", "cloth", "plain", "mat"]) == "wood":
            rng.bit_generator.state = state
            return render_background(rng, size, clutter=False)
    return render_background(rng, size, clutter=False)


class MultiCardSimulator:
    """Renders :data:`SCENE_KINDS` scenes from card textures (BGR, any size; real crops and scans)."""

    def __init__(
        self, textures: Sequence[BGRImage], options: SimOptions | None = None, empty_pocket_prob: float = 0.2
    ) -> None:
        """``empty_pocket_prob``: share of binder pages with one pocket left empty."""
        if not 0.0 <= empty_pocket_prob <= 1.0:
            raise ValueError(f"empty_pocket_prob must be between 0 and 1, got {empty_pocket_prob}")
        self.empty_pocket_prob = empty_pocket_prob
        if not textures:
            raise ValueError("the multi-card simulator needs at least one card texture")
        self.textures = [
            t if t.shape[1::-1] == CANONICAL_SIZE else cv2.resize(t, CANONICAL_SIZE, interpolation=cv2.INTER_AREA)
            for t in textures
        ]
        # Phone photos: no motion blur, rarely dim; defocus and JPEG as a phone gives them.
        self.options = options or scene_options()
        self._mask = rounded_corner_mask(*CANONICAL_SIZE)

    def render(self, rng: np.random.Generator, kind: str, size: tuple[int, int] | None = None) -> MultiCardScene:
        """One scene of ``kind`` at ``size`` (default: one of :data:`SCENE_SIZES`, drawn)."""
        if kind not in SCENE_KINDS:
            raise ValueError(f"unknown scene kind {kind!r}; one of {', '.join(SCENE_KINDS)}")
        frame = size or SCENE_SIZES[int(rng.integers(0, len(SCENE_SIZES)))]
        if kind.startswith("binder"):
            rows, cols = {"binder_2x2": (2, 2), "binder_4x3": (4, 3)}.get(kind, (3, 3))
            fill = rng.uniform(0.5, 0.7) if kind.endswith("small") else rng.uniform(0.86, 1.0)
            return self._binder_page(rng, frame, rows, cols, fill, kind)
        if kind == "toploader_rows":
            return self._table_grid(rng, frame, kind, toploader=True, cut=False)
        if kind == "touching_table":
            return self._table_grid(rng, frame, kind, toploader=False, cut=False)
        return self._table_grid(rng, frame, kind, toploader=bool(rng.random() < 0.5), cut=True)

    # ------------------------------------------------------------------ binder pages
    def _binder_page(
        self, rng: np.random.Generator, frame: tuple[int, int], rows: int, cols: int, fill: float, kind: str
    ) -> MultiCardScene:
        margin_x, margin_top, margin_bottom = rng.uniform(4, 14), rng.uniform(6, 18), rng.uniform(4, 14)
        ring_side = rng.uniform(14, 24)  # the punched strip along the binder's rings
        grid_w = cols * POCKET_MM[0] + (cols - 1) * SEAM_MM
        grid_h = rows * POCKET_MM[1] + (rows - 1) * SEAM_MM
        page_w, page_h = ring_side + grid_w + margin_x, margin_top + grid_h + margin_bottom
        # Landscape frames see a portrait page upright; sometimes the phone is turned (page sideways).
        roll = rng.normal(0, math.radians(4)) + (math.pi / 2 if rng.random() < 0.15 else 0.0)
        extent = (page_w + 30.0, page_h)  # the rings and the facing page's edge left of the page
        homography = _plane_to_frame(rng, frame, extent, fill, 22.0, roll)
        canvas = table_background(rng, frame).astype(np.float32)
        # The plane's origin is the extent's top-left; the page starts 30 mm in.
        offset = np.array([30.0, 0.0])
        self._draw_facing_page_and_rings(rng, canvas, homography, page_h)
        page_quad = _project(homography, _rect(30.0, 0.0, page_w, page_h))
        page_colour = np.array(
            _random_colour(rng, 10, 60) if rng.random() < 0.7 else _random_colour(rng, 180, 240), np.float32
        )
        _fill(canvas, page_quad, page_colour)
        for k in range(int(rng.integers(3, 5))):  # punched holes along the ring side
            y = page_h * (k + 1) / 5
            centre = _project(homography, np.array([[30.0 + ring_side / 2, y]]))[0]
            radius = max(2, int(0.012 * max(frame) * fill))
            cv2.circle(canvas, (int(centre[0]), int(centre[1])), radius, (25.0, 25.0, 25.0), -1, cv2.LINE_AA)
        scene = MultiCardScene(kind, np.zeros((1, 1, 3), np.uint8), pages=[page_quad])
        empty_pocket = int(rng.integers(0, rows * cols)) if rng.random() < self.empty_pocket_prob else -1
        pockets = []
        for r in range(rows):
            for c in range(cols):
                x = offset[0] + ring_side + c * (POCKET_MM[0] + SEAM_MM)
                y = offset[1] + margin_top + r * (POCKET_MM[1] + SEAM_MM)
                pocket = _rect(x, y, *POCKET_MM)
                pockets.append(pocket)
                if r * cols + c == empty_pocket:
                    continue
                # A card sits loosely in its pocket: a millimetre or two off-centre, slightly turned.
                slack = (np.array(POCKET_MM) - np.array(CARD_MM)) / 2
                cx = x + slack[0] + rng.uniform(-0.8, 0.8) * slack[0]
                cy = y + slack[1] + rng.uniform(-0.3, 1.0) * slack[1]
                card_mm = _turned(_rect(cx, cy, *CARD_MM), rng.normal(0, math.radians(0.6)))
                self._place_card(rng, canvas, _project(homography, card_mm), frame, scene)
        seam_colour = np.clip(page_colour * rng.uniform(0.8, 1.6) + 20, 0, 255)
        for pocket in pockets:
            quad = _project(homography, pocket)
            _sleeve(rng, canvas, quad, strength=rng.uniform(0.04, 0.12))
            cv2.polylines(canvas, [quad.astype(np.int32)], True, tuple(float(v) for v in seam_colour), 1, cv2.LINE_AA)
        _page_glare(rng, canvas, page_quad)
        scene.image = _camera_effects(rng, canvas, self.options)
        return scene

    def _draw_facing_page_and_rings(
        self, rng: np.random.Generator, canvas: npt.NDArray[np.float32], homography: FloatArray, page_h: float
    ) -> None:
        """The binder's spine side: the edge of the facing page or cover, and its metal rings."""
        cover = _project(homography, _rect(0.0, -10.0, 22.0, page_h + 20.0))
        _fill(canvas, cover, np.array(_random_colour(rng, 10, 120), np.float32))
        metal = np.array([rng.uniform(150, 210)] * 3, np.float32)
        for k in range(3):
            y = page_h * (0.2 + 0.3 * k)
            ring = _project(homography, np.array([[18.0, y - 4], [40.0, y - 4], [40.0, y + 4], [18.0, y + 4]]))
            cv2.polylines(canvas, [ring.astype(np.int32)], True, tuple(float(v) for v in metal), 3, cv2.LINE_AA)

    # ------------------------------------------------------------------ tables
    def _table_grid(
        self, rng: np.random.Generator, frame: tuple[int, int], kind: str, toploader: bool, cut: bool
    ) -> MultiCardScene:
        """Cards (or top-loaders) in rows on a table, touching or a few mm apart; ``cut``: the view is
        shifted so the frame cuts a row or a column."""
        rows, cols = (int(rng.integers(2, 4)), int(rng.integers(2, 5))) if not cut else (3, 4)
        holder = TOPLOADER_MM if toploader else CARD_MM
        gap = rng.uniform(0.0, 8.0) if toploader else (rng.uniform(0.0, 1.5) if rng.random() < 0.7 else 4.0)
        grid_w = cols * holder[0] + (cols - 1) * gap
        grid_h = rows * holder[1] + (rows - 1) * gap
        roll = rng.normal(0, math.radians(6)) + (math.pi / 2 if rng.random() < 0.2 else 0.0)
        fill = rng.uniform(1.05, 1.3) if cut else rng.uniform(0.7, 0.95)
        homography = _plane_to_frame(
            rng, frame, (grid_w, grid_h), fill, 25.0, roll, centre_jitter=0.12 if cut else 0.04
        )
        canvas = table_background(rng, frame).astype(np.float32)
        scene = MultiCardScene(kind, np.zeros((1, 1, 3), np.uint8))
        for r in range(rows):
            for c in range(cols):
                x = c * (holder[0] + gap) + rng.uniform(-1.0, 1.0) * (gap > 1)
                y = r * (holder[1] + gap) + rng.uniform(-1.0, 1.0) * (gap > 1)
                angle = rng.normal(0, math.radians(1.5 if gap > 2 else 0.5))
                if toploader:
                    loader = _turned(_rect(x, y, *TOPLOADER_MM), angle)
                    inset = (np.array(TOPLOADER_MM) - np.array(CARD_MM)) / 2
                    card_mm = _turned(_rect(x + inset[0], y + inset[1] * rng.uniform(0.6, 1.2), *CARD_MM), angle)
                    self._place_card(rng, canvas, _project(homography, card_mm), frame, scene)
                    _toploader(rng, canvas, _project(homography, loader))
                else:
                    card_mm = _turned(_rect(x, y, *CARD_MM), angle)
                    self._place_card(rng, canvas, _project(homography, card_mm), frame, scene)
        for _ in range(int(rng.integers(0, 3))):
            _glare_spot(rng, canvas)
        scene.image = _camera_effects(rng, canvas, self.options)
        return scene

    def _place_card(
        self,
        rng: np.random.Generator,
        canvas: npt.NDArray[np.float32],
        quad: FloatArray,
        frame: tuple[int, int],
        scene: MultiCardScene,
    ) -> None:
        if not _overlaps_frame(quad, frame):
            return
        texture = self.textures[int(rng.integers(0, len(self.textures)))]
        if rng.random() < 0.5:
            texture = texture[::-1, ::-1]  # a card lies either way up
        _warp_card(canvas, np.ascontiguousarray(texture), quad, self._mask)
        (scene.cards if _fully_inside(quad, frame) else scene.cut).append(quad)


def _warp_card(
    canvas: npt.NDArray[np.float32], texture: BGRImage, quad: FloatArray, mask: npt.NDArray[np.float32]
) -> None:
    """A card texture composited onto the canvas at ``quad``, warping only the quad's bounding box (a
    page holds up to twelve cards: warping the whole frame for each is most of a scene's cost)."""
    height, width = canvas.shape[:2]
    x0, y0 = (max(0, int(v) - 1) for v in np.floor(quad.min(axis=0)))
    x1, y1 = min(width, int(np.ceil(quad[:, 0].max())) + 2), min(height, int(np.ceil(quad[:, 1].max())) + 2)
    if x1 <= x0 or y1 <= y0:
        return
    h, w = texture.shape[:2]
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    matrix = cv2.getPerspectiveTransform(src, (quad - [x0, y0]).astype(np.float32))
    size = (x1 - x0, y1 - y0)
    layer = cv2.warpPerspective(texture, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    alpha = cv2.warpPerspective(mask, matrix, size, flags=cv2.INTER_LINEAR, borderValue=0)
    _composite(canvas[y0:y1, x0:x1], layer.astype(np.float32), alpha)


def _turned(quad: FloatArray, angle: float) -> FloatArray:
    centre = quad.mean(axis=0)
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    return np.asarray((quad - centre) @ rotation.T + centre)


def _fill(canvas: npt.NDArray[np.float32], quad: FloatArray, colour: npt.NDArray[np.float32]) -> None:
    cv2.fillConvexPoly(canvas, np.round(quad * 4).astype(np.int32), tuple(float(v) for v in colour), cv2.LINE_AA, 2)


def _sleeve(rng: np.random.Generator, canvas: npt.NDArray[np.float32], quad: FloatArray, strength: float) -> None:
    """A pocket's plastic: a faint tint over everything in it."""
    height, width = canvas.shape[:2]
    x0, y0 = np.floor(quad.min(axis=0)).astype(int)
    x1, y1 = np.ceil(quad.max(axis=0)).astype(int) + 1
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(width, x1), min(height, y1)
    if x1 <= x0 or y1 <= y0:
        return
    mask = np.zeros((y1 - y0, x1 - x0), np.float32)
    cv2.fillConvexPoly(mask, np.round((quad - [x0, y0]) * 4).astype(np.int32), 1.0, cv2.LINE_AA, 2)
    tint = np.empty((y1 - y0, x1 - x0, 3), np.float32)
    tint[:] = _random_colour(rng, 200, 255)
    window = canvas[y0:y1, x0:x1]
    _composite(window, tint, mask * np.float32(strength))


def _toploader(rng: np.random.Generator, canvas: npt.NDArray[np.float32], quad: FloatArray) -> None:
    """A rigid top-loader: tinted plastic with a bright rim and a thicker top lip."""
    _sleeve(rng, canvas, quad, strength=rng.uniform(0.1, 0.22))
    rim = tuple(float(v) for v in np.array(_random_colour(rng, 200, 255)) * rng.uniform(0.85, 1.0))
    height, width = canvas.shape[:2]
    x0, y0 = (max(0, int(v) - 6) for v in np.floor(quad.min(axis=0)))
    x1, y1 = min(width, int(np.ceil(quad[:, 0].max())) + 7), min(height, int(np.ceil(quad[:, 1].max())) + 7)
    if x1 <= x0 or y1 <= y0:
        return
    window = canvas[y0:y1, x0:x1]
    rim_layer = window.copy()
    cv2.polylines(rim_layer, [(quad - [x0, y0]).astype(np.int32)], True, rim, int(rng.integers(2, 5)), cv2.LINE_AA)
    alpha = rng.uniform(0.3, 0.6)
    window *= 1.0 - alpha
    window += rim_layer * alpha


def _page_glare(rng: np.random.Generator, canvas: npt.NDArray[np.float32], page: FloatArray) -> None:
    """Sleeves shine: a broad soft sheen and a few bright spots across the page."""
    height, width = canvas.shape[:2]
    mask = np.zeros((height, width), np.float32)
    cv2.fillConvexPoly(mask, page.astype(np.int32), 1.0)
    a = page[0] + (page[2] - page[0]) * rng.uniform(0.1, 0.5)
    b = page[0] + (page[2] - page[0]) * rng.uniform(0.5, 0.9)
    normal = np.array([-(b - a)[1], (b - a)[0]])
    normal = normal / (np.linalg.norm(normal) + 1e-9) * rng.uniform(30, 120)
    # A broad blur is drawn a quarter the size and enlarged: the same soft sheen, a fraction of the cost.
    small = np.zeros((height // 4 + 1, width // 4 + 1), np.float32)
    band = np.array([a - normal, a + normal, b + normal, b - normal]) / 4
    cv2.fillConvexPoly(small, band.astype(np.int32), 1.0)
    small = cv2.GaussianBlur(small, (0, 0), rng.uniform(15, 40) / 4)
    streak = cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR) * mask
    canvas += streak[..., None] * np.float32(rng.uniform(15, 60))
    for _ in range(int(rng.integers(0, 3))):
        _glare_spot(rng, canvas)


def _glare_spot(rng: np.random.Generator, canvas: npt.NDArray[np.float32]) -> None:
    height, width = canvas.shape[:2]
    cx, cy = rng.uniform(0, width), rng.uniform(0, height)
    sx = rng.uniform(0.01, 0.05) * width
    sy = sx * rng.uniform(0.3, 1.0)
    x0, x1 = int(max(0, cx - 3 * sx)), int(min(width, cx + 3 * sx + 1))
    y0, y1 = int(max(0, cy - 3 * sy)), int(min(height, cy + 3 * sy + 1))
    if x1 <= x0 or y1 <= y0:
        return
    yy, xx = np.ogrid[y0:y1, x0:x1]
    blob = np.exp(-(((xx - cx) ** 2) / (2 * sx**2) + ((yy - cy) ** 2) / (2 * sy**2)))
    canvas[y0:y1, x0:x1] += blob[..., None].astype(np.float32) * np.float32(rng.uniform(80, 200))


def _holds(quad: FloatArray, point: FloatArray) -> bool:
    return cv2.pointPolygonTest(quad.astype(np.float32), (float(point[0]), float(point[1])), False) > 0


def score_scene(scene: MultiCardScene, found: list[FloatArray]) -> dict[str, int]:
    """How a finder's outlines ``found`` fare on a scene: cards present, cards found whole (mean corner
    error within :data:`LOCATED` of the card's diagonal), outlines holding two or more cards' centres
    (a page or a group reported as a card) and outlines on no card at all (false cards)."""
    centres = [card.mean(axis=0) for card in scene.cards + scene.cut]
    located = sum(
        any(mean_corner_error(quad, card) <= LOCATED * quad_diagonal(card) for quad in found) for card in scene.cards
    )
    pages = sum(sum(_holds(quad, c) for c in centres) >= 2 for quad in found)
    false = sum(
        sum(_holds(quad, c) for c in centres) == 0
        and not any(_holds(card, quad.mean(axis=0)) for card in scene.cards + scene.cut)
        for quad in found
    )
    return {"cards": len(scene.cards), "found": int(located), "pages_as_cards": int(pages), "false_cards": int(false)}


def scene_options(options: SimOptions | None = None) -> SimOptions:
    """The simulator's camera effects for phone photos of a collection (no motion blur)."""
    return replace(options or SimOptions(), motion_blur_prob=0.0, dim_prob=0.1, defocus_prob=0.15)
