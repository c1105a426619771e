"""Is each side of a found card on the card's own edge? Straight edges near each side, judged by a
small learned scorer.

The finder's network outlines a card at ~1/10 of the frame's resolution, and a side refined on the
frame snaps to the strong edge nearest the network's guess. When the guess is a few percent off —
a finger or a shadow bites into the card's blob, a top-loader's rim or an object beside the card
joins it — the nearest edge is the wrong one: the art window, the sleeve, the object. Every such
line is straight and strong, so edge strength cannot tell them apart; what lies on either side of
the line can (a card's border inside, the table outside).

For each side: the straight edges within ±20 % of the card's depth are found in the frame (a Hough
vote over gradient peaks sampled across the side; an edge may turn against the side, so a side with
one corner off — bitten by a finger, drawn out to an object — is reached too), each is described by
colour and gradient profiles across it (medians along the side, so a finger over part of it does not
count), and a one-hidden-layer network scores how likely it is the card's edge. A side moves to a
better-scoring edge when that edge scores as a card edge. A side along the frame's border, or one
beyond which the frame shows too little (a card filling the picture), is left alone: the scorer needs
to see both sides of an edge. When the card's straightened crop still does not look whole
afterwards, :func:`outline_judged_whole` judges each side's own line and its best other edge together.
Weights: ``models/finder/sides.npz``, fitted on simulated captures by ``python -m models.finder.sides``
(numpy only).
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from app import PROJECT_ROOT
from app.camera.base import BGRImage
from app.vision.geometry import FloatArray, intersect_lines, line_through

logger = logging.getLogger(__name__)

DEFAULT_WEIGHTS = PROJECT_ROOT / "models" / "finder" / "sides.npz"

#: Edges are looked for within ± this share of the card's depth across the side.
SEARCH_BAND = 0.2
#: Samples along a side for the edge search.
SEARCH_SAMPLES = 32
#: A candidate edge's ends may differ in offset from the side by up to this share of the side's length
#: or the card's depth, whichever is longer (one end of a side 30 % of the card off, the other right: a
#: corner a finger bit off the network's outline, or one drawn out to an object beside the card).
MAX_TURN = 0.35
#: Fewest samples (share) whose gradient peaks an edge must pass through.
MIN_SUPPORT = 0.3
MAX_CANDIDATES = 5
#: Offsets across a candidate (share of the card's depth; negative: towards the card's centre) and
#: positions along it at which the descriptor samples the frame.
PROFILE_OFFSETS = np.linspace(-0.08, 0.08, 17)
PROFILE_POSITIONS = np.linspace(0.08, 0.92, 24)
#: Descriptor length: seven profiles across the candidate and three numbers about it.
FEATURE_LENGTH = 7 * len(PROFILE_OFFSETS) + 3
#: A candidate within this many pixels of the side at both ends is the side itself.
SAME_LINE_PX = 1.5


@dataclass(frozen=True)
class SideGeometry:
    """Side ``i`` of a quad: its ends, the outward unit normal, its length and the card's depth
    (the distance from the side's middle to the opposite side's line)."""

    start: FloatArray
    end: FloatArray
    normal: FloatArray
    length: float
    depth: float


@dataclass(frozen=True)
class EdgeCandidate:
    """A straight edge near a side: its offsets along the side's outward normal at the side's two
    ends (pixels) and the share of samples whose gradient peaks lie on it."""

    start_offset: float
    end_offset: float
    support: float

    def is_the_side(self) -> bool:
        return max(abs(self.start_offset), abs(self.end_offset)) <= SAME_LINE_PX


def side_geometry(quad: FloatArray, i: int) -> SideGeometry:
    start, end = quad[i], quad[(i + 1) % 4]
    direction = end - start
    length = float(np.linalg.norm(direction))
    direction = direction / max(length, 1e-9)
    normal = np.array([-direction[1], direction[0]])
    if np.dot(normal, quad.mean(axis=0) - start) > 0:
        normal = -normal
    opposite = line_through(quad[(i + 2) % 4], quad[(i + 3) % 4])
    middle = (start + end) / 2
    depth = abs(float(opposite @ np.array([middle[0], middle[1], 1.0]))) / max(
        float(np.hypot(opposite[0], opposite[1])), 1e-9
    )
    return SideGeometry(start, end, normal, length, depth)


def _sample(frame: BGRImage, points: FloatArray) -> npt.NDArray[np.float32]:
    """The frame at ``points`` (..., 2), bilinear; outside the frame its border is repeated."""
    return np.asarray(
        cv2.remap(
            frame,
            points[..., 0].astype(np.float32),
            points[..., 1].astype(np.float32),
            cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        ),
        np.float32,
    )


def edge_candidates(frame: BGRImage, side: SideGeometry) -> list[EdgeCandidate]:
    """Straight edges near ``side``, most supported first (the side's own edge among them, usually)."""
    return edge_candidates_of(frame, [side])[0]


def edge_candidates_of(frame: BGRImage, sides: Sequence[SideGeometry]) -> list[list[EdgeCandidate]]:
    """:func:`edge_candidates` of several sides, the frame sampled once for all of them (the finder
    checks four sides per card; one sampling call and one gradient instead of four)."""
    if not sides:
        return []
    t = np.linspace(0.05, 0.95, SEARCH_SAMPLES)
    steps = [np.arange(-reach, reach + 0.5, 1.0) for reach in (max(4.0, SEARCH_BAND * s.depth) for s in sides)]
    width = max(len(s) for s in steps)
    # Each side's offsets continued to the longest side's count, so the sides stack (the continuation
    # is sampled but not used); arange with the same start and step repeats the shorter run exactly.
    padded = np.stack([np.arange(s[0], s[0] + width, 1.0)[:width] for s in steps])
    starts = np.stack([s.start for s in sides])
    normals = np.stack([s.normal for s in sides])
    base = starts[:, None, :] + t[None, :, None] * (np.stack([s.end for s in sides]) - starts)[:, None, :]
    points = base[:, :, None, :] + padded[:, None, :, None] * normals[:, None, None, :]
    profile = _sample(frame, points.reshape(len(sides) * SEARCH_SAMPLES, width, 2))
    change = np.abs(np.diff(profile, axis=1))
    strongest = np.maximum(np.maximum(change[..., 0], change[..., 1]), change[..., 2])  # strongest channel
    found = []
    for k, (side, side_steps) in enumerate(zip(sides, steps, strict=True)):
        rows = strongest[k * SEARCH_SAMPLES : (k + 1) * SEARCH_SAMPLES, : len(side_steps) - 1]
        gradient = cv2.GaussianBlur(np.ascontiguousarray(rows), (3, 1), 0)
        found.append(_lines_through_peaks(gradient, side_steps, t, MAX_TURN * max(side.length, side.depth)))
    return found


def _lines_through_peaks(
    gradient: npt.NDArray[np.float32], steps: FloatArray, t: FloatArray, max_turn: float
) -> list[EdgeCandidate]:
    """The straight lines through most of the gradient peaks of ``gradient`` (one row per sample along
    the side, one column between each two of ``steps`` across it), their ends' offsets differing by
    up to ``max_turn`` pixels."""
    peak = np.zeros_like(gradient, bool)
    peak[:, 1:-1] = (gradient[:, 1:-1] >= gradient[:, :-2]) & (gradient[:, 1:-1] >= gradient[:, 2:])
    strong = peak & (gradient >= np.maximum(8.0, 0.3 * gradient.max(axis=1, keepdims=True)))
    rows, cols = np.nonzero(strong)
    if len(rows) < 4:
        return []
    offsets = steps[cols] + 0.5  # gradient j lies between steps j and j + 1
    along = t[rows] - 0.5
    # Hough vote: a line is offset(t) = a + b (t − 0.5); each sample votes once per (b, a) bin.
    turns = np.arange(-max_turn, max_turn + 0.5, 2.0)
    bins = len(steps) + 1
    intercept = np.rint(offsets[None, :] - turns[:, None] * along[None, :] - steps[0]).astype(np.int64)
    valid = intercept.view(np.uint64) < bins  # 0 <= intercept < bins (a negative one wraps to a huge one)
    # A sample's peaks lie whole pixels apart, so within a turn they fall in different 1-px bins: each
    # sample votes at most once per bin without de-duplication.
    cells = (np.arange(len(turns))[:, None] * bins + intercept)[valid]
    votes = np.bincount(cells, minlength=len(turns) * bins).reshape(len(turns), bins)
    votes = votes[:, :-1] + votes[:, 1:]  # 2-px bins: an edge between two bins is not split
    centres = steps[0] + np.arange(votes.shape[1]) + 0.5
    open_votes = votes.copy()  # votes of the lines not yet taken; -1 once taken
    found: list[EdgeCandidate] = []
    while len(found) < MAX_CANDIDATES:
        k, j = np.unravel_index(int(open_votes.argmax()), votes.shape)
        if open_votes[k, j] < MIN_SUPPORT * SEARCH_SAMPLES:
            break
        a, b = float(centres[j]), float(turns[k])
        # Lines through (nearly) the same middle point are this edge seen at another turn: taken.
        np.copyto(open_votes, -1, where=np.abs(centres - a)[None, :] <= (3.0 + 0.5 * np.abs(turns - b))[:, None])
        inliers = np.abs(offsets - (a + b * along)) <= 1.5
        if inliers.sum() >= 3:
            # Least squares offset = a + b·along over the peaks on it.
            x, y = along[inliers], offsets[inliers]
            x_mean, y_mean = float(x.sum()) / len(x), float(y.sum()) / len(y)
            dx = x - x_mean
            spread = float(dx @ dx)
            if spread > 1e-12:
                b = float(dx @ (y - y_mean)) / spread
                a = y_mean - b * x_mean
        on_line = rows[inliers]  # ascending: np.nonzero runs row by row
        samples = 1 + int(np.count_nonzero(np.diff(on_line))) if len(on_line) else 0
        candidate = EdgeCandidate(float(a - 0.5 * b), float(a + 0.5 * b), samples / SEARCH_SAMPLES)
        if all(
            max(abs(candidate.start_offset - c.start_offset), abs(candidate.end_offset - c.end_offset)) > 3.0
            for c in found
        ):
            found.append(candidate)
    return found


def edge_features(frame: BGRImage, side: SideGeometry, candidates: list[EdgeCandidate]) -> npt.NDArray[np.float32]:
    """One descriptor row per candidate: medians along it of B, G, R, saturation, grey, the grey
    gradient across it and the grey spread along it, at offsets across it; its support, how much of
    the gradient near it is on it, and how far it is from the side."""
    return edge_features_of(frame, [side], [candidates])


def edge_features_of(
    frame: BGRImage, sides: Sequence[SideGeometry], candidates: Sequence[Sequence[EdgeCandidate]]
) -> npt.NDArray[np.float32]:
    """:func:`edge_features` of the candidates of several sides, one row per candidate in order (side
    by side), the frame sampled once for all of them."""
    owner = np.array([k for k, near in enumerate(candidates) for _ in near], np.int64)
    if not len(owner):
        return np.zeros((0, FEATURE_LENGTH), np.float32)
    t = PROFILE_POSITIONS
    start = np.array([c.start_offset for near in candidates for c in near])
    end = np.array([c.end_offset for near in candidates for c in near])
    side_start = np.stack([s.start for s in sides])[owner]
    side_end = np.stack([s.end for s in sides])[owner]
    normal = np.stack([s.normal for s in sides])[owner]
    depth = np.array([s.depth for s in sides])[owner]
    offsets = start[:, None] + t[None, :] * (end - start)[:, None]  # (C, T)
    base = side_start[:, None, :] + t[None, :, None] * (side_end - side_start)[:, None, :]
    on_line = base + offsets[:, :, None] * normal[:, None, :]
    across = PROFILE_OFFSETS[None, :] * depth[:, None]  # (C, U)
    points = on_line[:, :, None, :] + across[:, None, :, None] * normal[:, None, None, :]
    count, positions, steps = points.shape[:3]
    profile = _sample(frame, points.reshape(count * positions, steps, 2))  # (C·T, U, 3)
    saturation = cv2.cvtColor(np.clip(profile, 0, 255).astype(np.uint8), cv2.COLOR_BGR2HSV)[..., 1]
    profile = profile.reshape(count, positions, steps, 3)
    saturation = saturation.reshape(count, positions, steps).astype(np.float32)
    grey = profile.mean(axis=3)
    gradient = np.abs(np.gradient(grey, axis=2))
    stacked = np.stack([profile[..., 0], profile[..., 1], profile[..., 2], saturation, grey, gradient], axis=0)
    medians = _median_along(stacked, axis=2) / 255.0  # (6, C, U): along the candidate
    spread = _median_along(np.abs(grey - medians[4][:, None, :] * 255.0), axis=1) / 255.0
    middle = len(PROFILE_OFFSETS) // 2
    gradient_median = medians[5]
    on_edge = gradient_median[:, middle - 1 : middle + 2].max(axis=1) / (gradient_median.max(axis=1) + 1e-6)
    extras = np.stack(
        [
            np.array([c.support for near in candidates for c in near]),
            on_edge,
            np.abs(start + end) / 2.0 / np.maximum(depth, 1e-9),
        ],
        axis=1,
    )
    return np.concatenate([*medians, spread, extras], axis=1).astype(np.float32)


def _median_along(values: npt.NDArray[np.float32], axis: int) -> npt.NDArray[np.float32]:
    """``np.median`` along ``axis`` by sorting (the same values; several times faster on these short
    axes, where ``np.median``'s partitioning costs more than it saves)."""
    ordered = np.sort(values, axis=axis)
    n = ordered.shape[axis]
    upper = np.take(ordered, n // 2, axis=axis)
    return upper if n % 2 else np.asarray((np.take(ordered, n // 2 - 1, axis=axis) + upper) / 2)


def search_signature() -> npt.NDArray[np.float64]:
    """The edge search a scorer is fitted on (it learns the candidates that search finds): reach, turn,
    count and samples. Saved with the weights and checked on loading."""
    return np.array([SEARCH_BAND, MAX_TURN, MAX_CANDIDATES, SEARCH_SAMPLES], np.float64)


@dataclass(frozen=True)
class EdgeScorer:
    """A one-hidden-layer network over :func:`edge_features`: > 0 the card's own edge, < 0 not."""

    mean: npt.NDArray[np.float32]
    scale: npt.NDArray[np.float32]
    hidden_weights: npt.NDArray[np.float32]
    hidden_bias: npt.NDArray[np.float32]
    out_weights: npt.NDArray[np.float32]
    out_bias: float

    def score(self, features: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        z = (features - self.mean) / self.scale
        return np.asarray(np.tanh(z @ self.hidden_weights + self.hidden_bias) @ self.out_weights + self.out_bias)

    def save(self, path: Path, sidecar: dict[str, object]) -> None:
        np.savez(
            path,
            mean=self.mean,
            scale=self.scale,
            hidden_weights=self.hidden_weights,
            hidden_bias=self.hidden_bias,
            out_weights=self.out_weights,
            out_bias=np.float32(self.out_bias),
            search=search_signature(),
        )
        path.with_suffix(".json").write_text(json.dumps(sidecar, indent=2) + "\n")


@lru_cache(maxsize=4)
def load_scorer(path: str) -> EdgeScorer:
    """The shipped scorer; a clear error when the file is missing or not for this descriptor."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"Card edge scorer missing: {path} (rebuild with: python -m models.finder.sides)")
    try:
        with np.load(path) as data:
            scorer = EdgeScorer(
                np.asarray(data["mean"], np.float32),
                np.asarray(data["scale"], np.float32),
                np.asarray(data["hidden_weights"], np.float32),
                np.asarray(data["hidden_bias"], np.float32),
                np.asarray(data["out_weights"], np.float32),
                float(data["out_bias"]),
            )
            search = np.asarray(data["search"], np.float64) if "search" in data else None
    except (OSError, KeyError, ValueError) as error:
        raise ValueError(f"Card edge scorer {path} is unreadable ({error}); rebuild it") from error
    hidden = scorer.hidden_bias.shape[0]
    if (
        scorer.mean.shape != (FEATURE_LENGTH,)
        or scorer.scale.shape != (FEATURE_LENGTH,)
        or scorer.hidden_weights.shape != (FEATURE_LENGTH, hidden)
        or scorer.out_weights.shape != (hidden,)
    ):
        raise ValueError(
            f"Card edge scorer {path} was fitted for {scorer.mean.size} features, this descriptor has "
            f"{FEATURE_LENGTH}; rebuild it"
        )
    if search is None or search.shape != search_signature().shape or not np.allclose(search, search_signature()):
        raise ValueError(
            f"Card edge scorer {path} was fitted on another edge search "
            f"({'unrecorded' if search is None else search.tolist()}; this finder searches "
            f"{search_signature().tolist()}: reach, turn, candidates, samples); rebuild it with: "
            "python -m models.finder.sides"
        )
    return scorer


def on_frame_border(side: SideGeometry, width: int, height: int, tol: float = 2.0) -> bool:
    """Whether the side runs along the frame's edge (the card is cut there: there is no edge to find)."""
    ends = np.stack([side.start, side.end])
    return bool(
        (ends[:, 0] <= tol).all()
        or (ends[:, 1] <= tol).all()
        or (ends[:, 0] >= width - 1 - tol).all()
        or (ends[:, 1] >= height - 1 - tol).all()
    )


def outside_in_view(side: SideGeometry, width: int, height: int, share: float) -> bool:
    """Whether the frame shows ``share`` of the card's depth beyond the middle half of the side (the
    descriptor takes medians along the side, so that half decides). Where it does not (a card filling
    the picture), what lies outside the edge cannot be seen, and an edge printed inside the card — a
    card back's inner frame, a text box — would look like the card's own."""
    reach = share * side.depth * side.normal
    ends = np.stack([side.start + t * (side.end - side.start) + reach for t in (0.25, 0.75)])
    return bool(((ends >= 0) & (ends <= np.array([width - 1, height - 1]))).all())


def corrected_sides(
    frame: BGRImage,
    quad: FloatArray,
    weights: str | Path = DEFAULT_WEIGHTS,
    min_score: float = 0.0,
    passes: int = 2,
    acceptable: Callable[[FloatArray], bool] | None = None,
    min_view: float = 0.0,
) -> tuple[FloatArray, int]:
    """``quad`` (clockwise) with each side moved to the nearby straight edge that scores best as the
    card's own edge, where that is another edge scoring at least ``min_score`` and better than the
    side's own; and how many moves were made. Corner ``i`` stays corner ``i``.

    Up to ``passes`` rounds: a moved side changes its neighbours' ends and the card's depth, so a side
    whose true edge lay beyond the first round's reach can be found in the second. A round whose result
    ``acceptable`` rejects (not card-shaped) is dropped and ends the search."""
    moved = 0
    for _ in range(passes):
        corrected, count = _one_round(frame, quad, load_scorer(str(weights)), min_score, min_view)
        if not count or (acceptable is not None and not acceptable(corrected)):
            break
        quad, moved = corrected, moved + count
    return quad, moved


@dataclass(frozen=True)
class ScoredSide:
    """Side ``index`` of a quad, the straight edges near it and their scores as the card's edge."""

    index: int
    side: SideGeometry
    candidates: list[EdgeCandidate]
    scores: npt.NDArray[np.float32]

    def line_along(self, candidate: EdgeCandidate) -> FloatArray:
        return line_through(
            self.side.start + candidate.start_offset * self.side.normal,
            self.side.end + candidate.end_offset * self.side.normal,
        )


def scored_sides(frame: BGRImage, quad: FloatArray, scorer: EdgeScorer, min_view: float) -> list[ScoredSide]:
    """The sides of ``quad`` that can be checked, with the edges near each, scored (all sides sampled
    and scored together). Skipped: tiny sides, sides along the frame's border and, with ``min_view``,
    sides beyond which the frame shows less than that share of the card's depth."""
    height, width = frame.shape[:2]
    checked = [
        (i, side)
        for i, side in ((i, side_geometry(quad, i)) for i in range(4))
        if side.length >= 8
        and side.depth >= 8
        and not on_frame_border(side, width, height)
        and (min_view <= 0 or outside_in_view(side, width, height, min_view))
    ]
    sides = [side for _, side in checked]
    candidates = edge_candidates_of(frame, sides)
    scores = scorer.score(edge_features_of(frame, sides, candidates))
    found, first = [], 0
    for (i, side), near in zip(checked, candidates, strict=True):
        found.append(ScoredSide(i, side, near, scores[first : first + len(near)]))
        first += len(near)
    return found


def _quad_of_lines(lines: Sequence[FloatArray]) -> FloatArray | None:
    corners = [intersect_lines(lines[(i - 1) % 4], lines[i]) for i in range(4)]
    if any(corner is None for corner in corners):
        return None
    return np.array(corners, np.float64)


def _one_round(
    frame: BGRImage, quad: FloatArray, scorer: EdgeScorer, min_score: float, min_view: float
) -> tuple[FloatArray, int]:
    lines = [line_through(quad[i], quad[(i + 1) % 4]) for i in range(4)]
    moved = 0
    for scored in scored_sides(frame, quad, scorer, min_view):
        if not scored.candidates:
            continue
        best = int(np.argmax(scored.scores))  # the side's own edge, when found, is among the candidates
        if scored.candidates[best].is_the_side() or scored.scores[best] < min_score:
            continue
        lines[scored.index] = scored.line_along(scored.candidates[best])
        moved += 1
    if not moved:
        return quad, 0
    corners = _quad_of_lines(lines)
    return (quad, 0) if corners is None else (corners, moved)


def outline_judged_whole(
    frame: BGRImage,
    quad: FloatArray,
    wholeness: Callable[[FloatArray], float],
    weights: str | Path = DEFAULT_WEIGHTS,
    edge_weight: float = 0.1,
    min_gain: float = 0.5,
    acceptable: Callable[[FloatArray], bool] | None = None,
    min_view: float = 0.0,
    own_wholeness: float | None = None,
) -> FloatArray | None:
    """Another outline for a card whose straightened crop does not look whole; None to keep ``quad``.
    ``own_wholeness``: ``wholeness(quad)`` when the caller has it already.

    The side-by-side check above moves a side only when another edge scores better than its own; when
    two edges near a side score alike (a sleeve's rim and the card's edge, the art window and a faint
    border), it can keep the wrong one, and the card's crop then does not look like a whole card. Here
    each side may be its own line or the best-scoring other edge near it, and every combination (up to
    16) is judged as a whole: ``wholeness`` of what it outlines (app/vision/wholeness.py) plus
    ``edge_weight`` × the sum of its sides' edge scores (``acceptable`` ones: card-shaped). The best
    replaces ``quad`` when it is another outline and looks at least ``min_gain`` more whole."""
    scorer = load_scorer(str(weights))
    lines = [[line_through(quad[i], quad[(i + 1) % 4])] for i in range(4)]
    edge_scores = [[0.0] for _ in range(4)]  # a side whose own edge is not among the candidates: 0
    for scored in scored_sides(frame, quad, scorer, min_view):
        own = [k for k, c in enumerate(scored.candidates) if c.is_the_side()]
        if own:
            edge_scores[scored.index][0] = float(scored.scores[own[0]])
        others = [k for k in np.argsort(-scored.scores) if not scored.candidates[k].is_the_side()]
        if others:
            lines[scored.index].append(scored.line_along(scored.candidates[others[0]]))
            edge_scores[scored.index].append(float(scored.scores[others[0]]))
    # Every combination, ``quad`` itself (all zeros) included; the best replaces it only when it looks
    # clearly more whole, so a near tie on the edge scores alone does not move a side.
    if own_wholeness is None:
        own_wholeness = wholeness(quad)
    best: tuple[float, float, FloatArray] | None = None
    for choice in itertools.product(*(range(len(options)) for options in lines)):
        corners = quad if not any(choice) else _quad_of_lines([lines[i][k] for i, k in enumerate(choice)])
        if corners is None or (any(choice) and acceptable is not None and not acceptable(corners)):
            continue
        whole = wholeness(corners) if any(choice) else own_wholeness
        judged = whole + edge_weight * sum(edge_scores[i][k] for i, k in enumerate(choice))
        if best is None or judged > best[0]:
            best = (judged, whole, corners)
    if best is None or best[2] is quad or best[1] < own_wholeness + min_gain:
        return None
    return best[2]
