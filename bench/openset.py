"""Open-set calibration: where to draw "not in the catalogue" and "identified".

Data: every catalogue card once as a simulated 1280×720 capture (capture simulator, seeded; one frame
each — the live scanner averages several frames, so its scores are at least this good) against the
shipped bundle; and the real eBay photos of card *fronts that are not in the catalogue*
(``shared/data/ebay-photos``, straightened by the finder). For each a grid of thresholds is scored:

- true-accept rate (TAR): catalogue captures ``identified`` as the right card;
- false-accept rate (FAR): eBay fronts ``identified`` as any catalogue card;
- unknown rate: eBay fronts below ``unknown_below``.

Two decision rules are scored on the same frames: **picture alone** (the matcher's thresholds), and
**with the number check** — what ``identify`` and the scanner do: a match in the ``uncertain`` band (or
with another printing of the same name close by) has its collector number read (rapidocr) and is
identified only when the number supports one of the close candidates; a number that contradicts them
all, or cannot be read, commits nothing. A find that names nothing and matches only loosely gets a
second look at the card inside it, read as a top-loader's outline, as the app does
(``Identifier.identify_found``). The number is read once per frame up front (for both readings), so
the threshold grid can say which frames the app would have read.

It picks the thresholds with the best TAR (with the number check) at FAR ≤ ``--max-far`` and no more
than ``--max-wrong`` of the catalogue captures identified as the wrong card, and prints JSON
(``--write-config FILE`` also writes them as a TOML ``[match]`` table for ``CARDSIGHT_CONFIG``).

    python bench/openset.py > bench/results/openset.json
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
import zlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.config import load_settings
from app.engine import load_engine
from app.identify import Identifier
from app.imageio import read_image_bgr
from app.match.layout import SIGNATURE_SIZE, layout_agreement, layout_signature
from app.match.matcher import MatchThresholds
from app.ocr.reader import NumberReader
from app.ocr.rerank import commit_by_number, strip_to_read, wants_number_check
from app.vision.finder import FoundCard
from bench.common import CATALOG, EBAY, machine
from models.sim.capture_sim import CaptureSimulator, SimOptions, load_card_texture
from models.train.views import corner_error

#: best similarity, margin to the next card, best id, margin to the next card of another name,
#: the card the read number supports among the close candidates (None: none), the number's verdict,
#: whether another printing of the same name is close (the scanner then reads the number even for a
#: confident picture), the layout agreement of the crop with the best card's thumbnail (-1: none);
#: then the same eight for the card inside the find read as a top-loader's outline
#: (``FoundCard.inside_toploader``), which the app falls back on when the find itself names nothing.
Score = tuple[Any, ...]
SCORE_FIELDS = 9
#: ``layout_at`` that turns the layout check off.
LAYOUT_OFF = 2.0
#: The layout threshold keeps this far above the eBay fronts' agreement: 460 photos of a few dozen
#: look-alike cards are a thin sample of the cards a shop will hold up.
LAYOUT_SAFETY = 0.05


def score_of(
    identifier: Identifier, reader: NumberReader | None, image: np.ndarray, truth_corners: np.ndarray | None = None
) -> Score | None:
    identifier.finder.reset()
    found = identifier.finder.find_cards(image)
    if not found:
        return None
    best = max(found, key=lambda f: f.quad.area_frac)
    if truth_corners is not None:
        _CORNER_ERRORS.append(corner_error(best.corners, truth_corners))
    return (
        *score_of_find(identifier, reader, image, best),
        score_of_find(identifier, reader, image, best.inside_toploader()),
    )


def score_of_find(identifier: Identifier, reader: NumberReader | None, image: np.ndarray, found: FoundCard) -> Score:
    """The first eight fields of :data:`Score` for one find."""
    ((match, turned),) = identifier.identify_crops([found.warped.image])
    hits = [(a.card_id, a.similarity) for a in match.alternatives]
    if not hits:
        return (match.similarity, 0.0, None, 0.0, None, "illegible", False, -1.0)
    margin = hits[0][1] - hits[1][1] if len(hits) > 1 else hits[0][1]
    stranger = identifier.matcher.stranger_margin(hits)
    metadata = identifier.bundle.metadata
    # The number check, as the app would run it on this frame (whatever the thresholds say).
    number_card, verdict = None, "illegible"
    if reader is not None:
        probe = replace(match, card_id=hits[0][0])
        strip, where = strip_to_read(image, found.corners, turned, probe, metadata)
        committed, reranked = commit_by_number(probe, reader.read_strip(strip, corners=where), metadata)
        number_card, verdict = (committed.card_id if committed else None), reranked.verdict
    probe_confident = replace(match, card_id=hits[0][0], status="identified")
    lookalike = wants_number_check(probe_confident, metadata, identifier.lookalike_within)
    crop = found.warped.image
    oriented = cv2.rotate(crop, cv2.ROTATE_180) if turned else crop
    agreement = identifier.layout.agreement(oriented, hits[0][0])
    layout = -1.0 if agreement is None else agreement
    return (hits[0][1], margin, hits[0][0], stranger, number_card, verdict, lookalike, layout)


def catalogue_scores(
    identifier: Identifier, reader: NumberReader | None, limit: int | None
) -> list[tuple[Score | None, str]]:
    bundle = identifier.bundle
    ids = bundle.card_ids()[:limit] if limit else bundle.card_ids()
    textures = [load_card_texture(CATALOG / "images" / str(bundle.metadata[c]["set_id"]) / f"{c}.jpg") for c in ids]
    sim = CaptureSimulator(textures, SimOptions(size=(1280, 720)))
    rng = np.random.default_rng(2026)
    out: list[tuple[Score | None, str]] = []
    for i, card_id in enumerate(ids):
        capture = sim.render(rng, card_index=i)
        before = len(_CORNER_ERRORS)
        out.append((score_of(identifier, reader, capture.image, capture.quads[0]), card_id))
        if len(_CORNER_ERRORS) == before:
            _CORNER_ERRORS.append(float("nan"))  # no card found
    return out


#: Per catalogue capture: the finder's corner error vs the simulator's truth (fraction of the diagonal).
_CORNER_ERRORS: list[float] = []
WELL_STRAIGHTENED = 0.03


def ebay_front_rows(limit: int | None) -> list[dict[str, str]]:
    with open(EBAY / "labels.csv", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["side"] == "front"]
    return rows[:limit] if limit else rows


def held_out_photo(row: dict[str, str]) -> bool:
    """Odd-crc32 source photos: never seen by the finder's or the card model's training."""
    return zlib.crc32(row["source_photo"].encode()) % 2 == 1


def ebay_front_scores(identifier: Identifier, reader: NumberReader | None, limit: int | None) -> list[Score | None]:
    return [score_of(identifier, reader, read_image_bgr(EBAY / "images" / r["file"])) for r in ebay_front_rows(limit)]


def _ways(crop: np.ndarray) -> list[np.ndarray]:
    """As cropped, turned, and mirrored either way (the dataset's exporter flipped some copies)."""
    return [crop, cv2.rotate(crop, cv2.ROTATE_180), cv2.flip(crop, 1), cv2.flip(crop, 0)]


def same_photo_agreement(identifier: Identifier, limit: int | None) -> list[float]:
    """Layout agreement between two real-camera crops of one card: the eBay set holds augmented copies
    of each source photo (brightness, small rotations, flips), each straightened by the finder on its
    own. The first copy's crop against each other copy's (as a thumbnail, either way up or mirrored
    back), best of those, per source photo — what a real photo of the *same* card scores, where the
    catalogue captures only show simulated ones."""
    crops: dict[str, list[np.ndarray]] = {}
    for row in ebay_front_rows(limit):
        identifier.finder.reset()
        found = identifier.finder.find_cards(read_image_bgr(EBAY / "images" / row["file"]))
        if len(found) == 1:
            crops.setdefault(row["source_photo"], []).append(found[0].warped.image)
    scores = []
    for copies in crops.values():
        if len(copies) < 2:
            continue
        first = layout_signature(copies[0])
        ways = [
            lambda c: c,
            lambda c: cv2.rotate(c, cv2.ROTATE_180),
            lambda c: cv2.flip(c, 1),
            lambda c: cv2.flip(c, 0),
        ]
        thumbs = [cv2.resize(way(c), SIGNATURE_SIZE, interpolation=cv2.INTER_AREA) for c in copies[1:] for way in ways]
        scores.append(max(layout_agreement(first, layout_signature(t)) for t in thumbs))
    return scores


def _unknown(score: Score, t: MatchThresholds) -> bool:
    sim, stranger = score[0], score[3]
    return bool(sim < t.unknown_below or (stranger < t.unknown_margin and sim < t.lookalike_above))


def _confident(score: Score, t: MatchThresholds) -> bool:
    """``identified`` by the picture (``Matcher.decide``) or by the layout check."""
    sim, margin, _, _, _, _, lookalike, layout = score[:8]
    if sim >= t.accept_at and margin >= t.min_margin:
        return True
    return bool(margin >= t.layout_margin and not lookalike and layout >= t.layout_at)


def reading_of(score: Score, t: MatchThresholds) -> Score:
    """The reading the app goes on (``Identifier.identify_found``): the find's own, unless it names
    nothing, matches only loosely (``worth_a_look_inside``), and the card inside it, read as a
    top-loader's outline, is named."""
    inner = score[8] if len(score) > 8 else None
    if inner is None or (not _unknown(score, t) and _confident(score, t)) or score[0] >= t.lookalike_above:
        return score
    return inner if not _unknown(inner, t) and _confident(inner, t) else score


def is_unknown(score: Score, t: MatchThresholds) -> bool:
    return _unknown(reading_of(score, t), t)


def decision(score: Score, t: MatchThresholds, number_check: bool) -> str | None:
    """The card the app would commit to on this frame (None: uncertain, unknown — nothing committed).
    ``Matcher.decide``, the layout check (``app.match.layout.LayoutCheck.confirm``), the second look
    inside a top-loader (:func:`reading_of`), then the pipeline's number rule
    (``app.ocr.rerank.commit_by_number``)."""
    score = reading_of(score, t)
    if _unknown(score, t):
        return None
    _, _, best, _, number_card, verdict, lookalike, _ = score[:8]
    confident = _confident(score, t)
    if not number_check:
        return best if confident else None
    if confident and not lookalike:
        return best
    if verdict in ("confirmed", "reranked"):
        return number_card
    return best if confident and verdict == "illegible" else None


def rates(
    known: list[tuple[Score | None, str]], fronts: list[Score | None], t: MatchThresholds, number_check: bool = True
) -> dict[str, float]:
    """The app's decision rule applied to the recorded scores."""
    right = wrong = known_unknown = 0
    for score, truth in known:
        if score is None:
            continue
        if is_unknown(score, t):
            known_unknown += reading_of(score, t)[2] == truth
            continue
        committed = decision(score, t, number_check)
        right += committed == truth
        wrong += committed is not None and committed != truth
    seen = [f for f in fronts if f is not None]
    accepted = sum(1 for s in seen if decision(s, t, number_check) is not None)
    rejected = sum(1 for s in seen if is_unknown(s, t))
    return {
        "true_accept_rate": right / max(len(known), 1),
        "wrong_identified_rate": wrong / max(len(known), 1),
        "right_card_called_unknown_rate": known_unknown / max(len(known), 1),
        "false_accept_rate": accepted / max(len(seen), 1),
        "fronts_unknown_rate": rejected / max(len(seen), 1),
    }


def calibrate(
    known: list[tuple[Score | None, str]], fronts: list[Score | None], max_far: float, max_wrong: float
) -> tuple[MatchThresholds, dict[str, float]]:
    """Three steps: the accept rule on the picture (best TAR at FAR ≤ max_far), the unknown rule (most
    eBay fronts called unknown while ≤ 1 % of catalogue captures whose best match is right are), then
    the layout check (best TAR at FAR ≤ max_far with every front's agreement raised by
    ``LAYOUT_SAFETY``; of equals, the strictest)."""
    best: tuple[float, float, float] | None = None
    for accept_at in np.arange(0.30, 0.95, 0.01):
        for margin in np.arange(0.0, 0.305, 0.01):
            t = MatchThresholds(
                unknown_below=0.0,
                accept_at=float(accept_at),
                min_margin=float(margin),
                unknown_margin=0.0,
                layout_at=LAYOUT_OFF,
            )
            r = rates(known, fronts, t)
            if r["false_accept_rate"] > max_far or r["wrong_identified_rate"] > max_wrong:
                continue
            if best is None or r["true_accept_rate"] > best[0] + 1e-9:
                best = (r["true_accept_rate"], float(accept_at), float(margin))
    if best is None:
        raise SystemExit("no thresholds meet the targets")
    _, accept_at, min_margin = best
    chosen: tuple[float, MatchThresholds] | None = None
    for unknown_below in np.arange(max(0.20, accept_at - 0.30), accept_at + 1e-9, 0.02):
        for unknown_margin in np.arange(0.0, min(min_margin, 0.05) + 1e-9, 0.005):
            for lookalike_above in (0.80, 0.85, 0.88, 0.90, 0.92, 0.95):
                t = MatchThresholds(
                    unknown_below=round(float(unknown_below), 3),
                    accept_at=round(accept_at, 3),
                    min_margin=round(min_margin, 3),
                    unknown_margin=round(float(unknown_margin), 3),
                    lookalike_above=lookalike_above,
                    layout_at=LAYOUT_OFF,
                )
                r = rates(known, fronts, t)
                if r["right_card_called_unknown_rate"] > 0.01 or r["true_accept_rate"] < best[0] - 1e-9:
                    continue
                if chosen is None or r["fronts_unknown_rate"] > chosen[0] + 1e-9:
                    chosen = (r["fronts_unknown_rate"], t)
    assert chosen is not None
    picture = chosen[1]
    # Real cameras of cards never seen: the fronts count as accepted with their agreement this much higher.
    padded = [_padded(s) if s else None for s in fronts]
    layout: tuple[float, float, float] = (rates(known, fronts, picture)["true_accept_rate"], LAYOUT_OFF, 0.0)
    for layout_margin in np.arange(0.0, min_margin + 1e-9, 0.02):
        for layout_at in np.arange(0.50, 0.951, 0.025):
            t = replace(picture, layout_margin=round(float(layout_margin), 3), layout_at=round(float(layout_at), 3))
            r = rates(known, padded, t)
            if r["false_accept_rate"] > max_far or r["wrong_identified_rate"] > max_wrong:
                continue
            if (r["true_accept_rate"], t.layout_at, t.layout_margin) > layout:
                layout = (r["true_accept_rate"], t.layout_at, t.layout_margin)
    final = replace(picture, layout_at=layout[1], layout_margin=layout[2])
    return final, rates(known, fronts, final)


def _padded(score: Score) -> Score:
    """``score`` (and its top-loader reading) with the layout agreement raised by ``LAYOUT_SAFETY``."""
    inner = score[8] if len(score) > 8 else None
    return (*score[:7], score[7] + LAYOUT_SAFETY, _padded(inner) if inner else None)


#: The looser accept rule reported beside the chosen one (unknown rule off).
LOOSE = MatchThresholds(unknown_below=0.0, accept_at=0.5, min_margin=0.05, unknown_margin=0.0, layout_at=LAYOUT_OFF)


def _set_of(card_id: str | None) -> str:
    return card_id.split("-")[0] if card_id else "none"


def _count(values: Iterable[str]) -> dict[str, int]:
    return dict(sorted(Counter(values).items()))


def _quantiles(values: Iterable[float]) -> dict[str, float]:
    v = np.array([x for x in values if x >= -0.5])
    if not len(v):
        return {}
    qs = (0.02, 0.05, 0.1, 0.5, 0.9, 0.98, 1.0)
    return {"n": len(v), **{f"q{round(q * 100)}": round(float(np.quantile(v, q)), 3) for q in qs}}


def thresholds_json(t: MatchThresholds) -> dict[str, float]:
    keys = ["unknown_below", "accept_at", "min_margin", "unknown_margin", "lookalike_above"]
    keys += ["layout_margin", "layout_at"]
    return {k: getattr(t, k) for k in keys}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-far", type=float, default=0.02)
    parser.add_argument("--max-wrong", type=float, default=0.005)
    parser.add_argument("--limit", type=int, default=None, help="fewer cards/photos, for a quick look")
    parser.add_argument("--write-config", type=Path, help="also write the thresholds as a TOML [match] table")
    parser.add_argument("--dump", type=Path, help="write the raw scores (JSON) for a closer look")
    parser.add_argument("--scores", type=Path, help="recalibrate from a --dump file instead of re-measuring")
    args = parser.parse_args()
    settings = load_settings()
    engine = load_engine(settings)
    if engine.reader is None:
        raise SystemExit(f"bench/openset.py needs the number reader: {engine.ocr_status}")
    # Picture alone here; the number is read below, for every frame, whatever the thresholds.
    identifier = Identifier(
        engine.finder, engine.embedder, engine.bundle, engine.matcher, lookalike_within=settings.live.lookalike_within
    )
    started = time.perf_counter()
    if args.scores:
        try:
            raw = json.loads(args.scores.read_text())
            known = [(tuple(s) if s else None, t) for s, t in raw["known"]]
            fronts = [tuple(s) if s else None for s in raw["fronts"]]
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise SystemExit(f"bench/openset.py: cannot read scores from {args.scores}: {error}") from None
        if any(s is not None and len(s) != SCORE_FIELDS for s, _ in known):
            raise SystemExit(f"bench/openset.py: {args.scores} is from an older version of this script: re-measure")
        errors = raw.get("known_corner_error", [float("nan")] * len(known))
    else:
        known = catalogue_scores(identifier, engine.reader, args.limit)
        fronts = ebay_front_scores(identifier, engine.reader, args.limit)
        errors = list(_CORNER_ERRORS)
    if args.dump:
        args.dump.write_text(json.dumps({"known": known, "fronts": fronts, "known_corner_error": errors}))
    current = engine.matcher.thresholds
    good = [k for k, e in zip(known, errors, strict=True) if e == e and e <= WELL_STRAIGHTENED]
    rows = ebay_front_rows(args.limit)
    held_out = [s for s, r in zip(fronts, rows, strict=False) if held_out_photo(r)]
    chosen, chosen_rates = calibrate(known, fronts, args.max_far, args.max_wrong)
    same_photo = same_photo_agreement(identifier, args.limit)
    report = {
        "benchmark": "open-set calibration (identified / uncertain / unknown thresholds)",
        "machine": machine(),
        "model": {"name": engine.embedder.sidecar.name, "sha256": engine.embedder.model_sha256[:16]},
        "data": {
            "catalogue_captures": len(known),
            "catalogue_captures_no_card_found": sum(1 for s, _ in known if s is None),
            "ebay_fronts_not_in_catalogue": len(fronts),
            "ebay_fronts_no_card_found": sum(1 for s in fronts if s is None),
            "simulator": "1280x720, one frame per card, seed 2026",
        },
        "targets": {"false_accept_rate_max": args.max_far, "true_accept_rate_min": 0.98},
        "current_thresholds": {
            **thresholds_json(current),
            **{k: round(v, 4) for k, v in rates(known, fronts, current).items()},
        },
        "chosen_thresholds": {**thresholds_json(chosen), **{k: round(v, 4) for k, v in chosen_rates.items()}},
        # The same thresholds without the number check, and without the layout check as well.
        "chosen_thresholds_no_number_check": {
            k: round(v, 4) for k, v in rates(known, fronts, chosen, number_check=False).items()
        },
        "chosen_thresholds_picture_alone": {
            k: round(v, 4)
            for k, v in rates(known, fronts, replace(chosen, layout_at=LAYOUT_OFF), number_check=False).items()
        },
        # Layout agreement (app/match/layout.py) of the crop with its best card's thumbnail: catalogue
        # captures whose best card is right vs eBay fronts (cards outside the catalogue).
        "layout_agreement": {
            "catalogue_right_best": _quantiles(s[7] for s, truth in known if s and s[2] == truth),
            "ebay_fronts": _quantiles(s[7] for s in fronts if s),
            "ebay_fronts_similarity_above_0.5": _quantiles(s[7] for s in fronts if s and s[0] > 0.5),
        },
        # Which catalogue set the accepted eBay fronts were matched to; and the same frames under a
        # much looser accept rule, to show what the false-accept limit costs and where it comes from.
        "false_accepts_by_matched_set": _count(
            _set_of(reading_of(s, chosen)[2]) for s in fronts if s and decision(s, chosen, True)
        ),
        "looser_accept_rule": {
            "accept_at": LOOSE.accept_at,
            "min_margin": LOOSE.min_margin,
            **{k: round(v, 4) for k, v in rates(known, fronts, LOOSE).items()},
            "false_accepts_by_matched_set": _count(
                _set_of(reading_of(s, LOOSE)[2]) for s in fronts if s and decision(s, LOOSE, True)
            ),
        },
        "number_reads": {
            "catalogue_verdicts": _count(s[5] for s, _ in known if s),
            "front_verdicts": _count(s[5] for s in fronts if s),
        },
        # The finder's share: the same rates on the captures it straightened well (corners within 3 %
        # of the diagonal of the truth) — what the recogniser does when the crop is right.
        "well_straightened_captures": {
            "captures": len(good),
            "of": len(known),
            **{k: round(v, 4) for k, v in rates(good, fronts, chosen).items() if k != "fronts_unknown_rate"},
        },
        # The card model saw the even-crc32 fronts as negatives in training: its false-accept rate on
        # the held-out (odd) fronts alone is the figure that carries over to cards it never saw.
        "layout_agreement_real_photos_of_one_card": {
            **_quantiles(same_photo),
            "at_or_above_layout_at": round(float(np.mean(np.array(same_photo) >= chosen.layout_at)), 4)
            if same_photo
            else None,
        },
        "held_out_fronts": {
            "photos": len(held_out),
            "false_accept_rate": round(rates(known, held_out, chosen)["false_accept_rate"], 4),
            "fronts_unknown_rate": round(rates(known, held_out, chosen)["fronts_unknown_rate"], 4),
        },
        "seconds": round(time.perf_counter() - started, 1),
    }
    if args.write_config:
        args.write_config.write_text("[match]\n" + "".join(f"{k} = {v}\n" for k, v in thresholds_json(chosen).items()))
    print(json.dumps(report, indent=2))
    engine.close()


if __name__ == "__main__":
    main()
