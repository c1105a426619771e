"""Open-set calibration: where to draw "not in the catalogue" and "identified".

Data: every catalogue card once as a simulated 1280×720 capture (capture simulator, seeded; one frame
each — the live scanner averages several frames, so its scores are at least this good) against the
shipped bundle; and the real eBay photos of card *fronts that are not in the catalogue*
(``shared/data/ebay-photos``, straightened by the finder). For each a grid of thresholds is scored:

- true-accept rate (TAR): catalogue captures ``identified`` as the right card;
- false-accept rate (FAR): eBay fronts ``identified`` as any catalogue card;
- unknown rate: eBay fronts below ``unknown_below``.

Every frame is judged by the app's own rule, ``app.match.decision.decide_card`` — the function
``cardsight identify`` calls, and the live worker for each frame — on evidence measured once up front
(whatever the thresholds): the crop's top-k references both ways up, the layout agreement with the
card the rule would check, and the collector number read (rapidocr) for the card it would read it
for; the same for the card inside the find read as a top-loader's outline. The threshold grid then
replays that evidence through the rule. Two ways are scored: **picture alone** (no number), and
**with the number check** — what ``identify`` and the scanner do: a match in the ``uncertain`` band (or
with another printing of the same name close by) is identified only when the number supports one of
the close candidates; a number that contradicts them all, or cannot be read, commits nothing.

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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.config import load_settings
from app.engine import load_engine
from app.identify import Identifier
from app.imageio import read_image_bgr
from app.match.bundle import BACK_PREFIX
from app.match.decision import (
    CardDecision,
    LayoutProbe,
    MatchThresholds,
    NumberProbe,
    NumberRead,
    NumberVerdict,
    Rules,
    Sighting,
    better_way_up,
    check_printings,
    decide_card,
    decide_picture,
)
from app.match.layout import SIGNATURE_SIZE, layout_agreement, layout_signature
from app.vision.finder import FoundCard
from bench.common import CATALOG, EBAY, machine
from models.sim.capture_sim import CaptureSimulator, SimOptions, load_card_texture
from models.train.views import corner_error

#: ``layout_at`` that turns the layout check off.
LAYOUT_OFF = 2.0
#: The layout threshold keeps this far above the eBay fronts' agreement: 460 photos of a few dozen
#: look-alike cards are a thin sample of the cards a shop will hold up.
LAYOUT_SAFETY = 0.05
#: Bumped when the recorded evidence changes shape (``--scores`` refuses older dumps).
SCORES_VERSION = 2


@dataclass(frozen=True)
class Recorded:
    """The evidence of one crop that ``decide_card`` can ask for, measured once: its top-k references
    both ways up; the layout agreement ``(card, turned, value)`` and the number read
    ``(card, turned, verdict, supported card)`` of the card the rule would check (the better way up's
    best card, which no threshold changes; None: a back or nothing to check)."""

    sighting: Sighting
    layout: tuple[str, bool, float | None] | None
    number: tuple[str, bool, NumberVerdict, str | None] | None

    def layout_probe(self) -> LayoutProbe:
        def probe(card_id: str, turned: bool) -> float | None:
            assert self.layout is not None and self.layout[:2] == (card_id, turned), (self.layout, card_id, turned)
            return self.layout[2]

        return probe

    def as_json(self) -> dict[str, Any]:
        return {
            "upright": [list(h) for h in self.sighting.upright],
            "turned": [list(h) for h in self.sighting.turned],
            "layout": self.layout,
            "number": self.number,
        }

    @staticmethod
    def from_json(raw: dict[str, Any]) -> Recorded:
        hits = {way: tuple((str(c), float(s)) for c, s in raw[way]) for way in ("upright", "turned")}
        layout, number = raw["layout"], raw["number"]
        return Recorded(
            Sighting(hits["upright"], hits["turned"]),
            (str(layout[0]), bool(layout[1]), layout[2]) if layout else None,
            (str(number[0]), bool(number[1]), number[2], number[3]) if number else None,
        )


@dataclass(frozen=True)
class Score:
    """One photo's evidence: the largest find, and the card inside it read as a top-loader's outline."""

    found: Recorded
    inside: Recorded

    def as_json(self) -> dict[str, Any]:
        return {"found": self.found.as_json(), "inside": self.inside.as_json()}

    @staticmethod
    def from_json(raw: dict[str, Any]) -> Score:
        return Score(Recorded.from_json(raw["found"]), Recorded.from_json(raw["inside"]))


def judge(score: Score, rules: Rules, number_check: bool = True) -> CardDecision:
    """The app's decision on a recorded photo: ``app.match.decision.decide_card`` — the very function
    ``Identifier`` calls — on the recorded evidence."""

    def number(decision: Any, turned: bool, inside: bool) -> NumberRead | None:
        if decision.card_id is None:
            return None  # a picture that matches nothing: its proposals are bench/number_proposals.py's
        read = (score.inside if inside else score.found).number
        assert read is not None and read[:2] == (decision.card_id, turned), (read, decision.card_id, turned)
        return NumberRead(read[2], read[3])

    probe: NumberProbe | None = number if number_check else None
    inside = (score.inside.sighting, score.inside.layout_probe())
    return decide_card((score.found.sighting, score.found.layout_probe()), lambda: inside, probe, rules)


def score_of(identifier: Identifier, image: np.ndarray, truth_corners: np.ndarray | None = None) -> Score | None:
    identifier.finder.reset()
    found = identifier.finder.find_cards(image)
    if not found:
        return None
    best = max(found, key=lambda f: f.quad.area_frac)
    if truth_corners is not None:
        _CORNER_ERRORS.append(corner_error(best.corners, truth_corners))
    return Score(record_find(identifier, image, best), record_find(identifier, image, best.inside_toploader()))


def record_find(identifier: Identifier, image: np.ndarray, found: FoundCard) -> Recorded:
    """The evidence of one find, measured the way the app measures it (``Identifier``'s own
    probes), for the card the rule would ask about whatever the thresholds."""
    (sighting,) = identifier.sightings([found.warped.image])
    t, metadata = identifier.matcher.thresholds, identifier.bundle.metadata
    decision, turned = better_way_up(
        decide_picture(sighting.upright, t, metadata), decide_picture(sighting.turned, t, metadata)
    )
    hits = sighting.turned if turned else sighting.upright
    if not hits or hits[0][0].startswith(BACK_PREFIX):
        return Recorded(sighting, None, None)
    card_id = hits[0][0]
    layout = identifier.layout_probe(found.warped.image)(card_id, turned)
    # Read whatever the thresholds make of the picture, against the card's same-art printings in sets
    # not installed as well (the rule adds them when it asks for the number).
    probe = check_printings(replace(decision, status="uncertain", card_id=card_id), None, identifier.rules)
    read = identifier.read_number(image, found, probe, turned) if identifier.reader is not None else None
    number = (card_id, turned, read.verdict, read.supported) if read else None
    return Recorded(sighting, (card_id, turned, layout), number)


def catalogue_scores(identifier: Identifier, limit: int | None) -> list[tuple[Score | None, str]]:
    bundle = identifier.bundle
    ids = bundle.card_ids()[:limit] if limit else bundle.card_ids()
    textures = [load_card_texture(CATALOG / "images" / str(bundle.metadata[c]["set_id"]) / f"{c}.jpg") for c in ids]
    sim = CaptureSimulator(textures, SimOptions(size=(1280, 720)))
    rng = np.random.default_rng(2026)
    out: list[tuple[Score | None, str]] = []
    for i, card_id in enumerate(ids):
        capture = sim.render(rng, card_index=i)
        before = len(_CORNER_ERRORS)
        out.append((score_of(identifier, capture.image, capture.quads[0]), card_id))
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


def ebay_front_scores(identifier: Identifier, limit: int | None) -> list[Score | None]:
    return [score_of(identifier, read_image_bgr(EBAY / "images" / r["file"])) for r in ebay_front_rows(limit)]


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


def committed(decided: CardDecision) -> str | None:
    """The card the app commits to (None: uncertain, unknown, a back — nothing committed)."""
    return decided.decision.card_id if decided.decision.status == "identified" else None


def best_card(decided: CardDecision) -> str | None:
    """The best catalogue card of the reading the app went on, whatever it decided."""
    alternatives = decided.decision.alternatives
    return alternatives[0].card_id if alternatives else None


def rates(
    known: Sequence[tuple[Score | None, str]], fronts: Sequence[Score | None], rules: Rules, number_check: bool = True
) -> dict[str, float]:
    """The app's decision rule (:func:`judge`) applied to the recorded evidence."""
    right = wrong = known_unknown = 0
    for score, truth in known:
        if score is None:
            continue
        decided = judge(score, rules, number_check)
        if decided.decision.status == "unknown":
            known_unknown += best_card(decided) == truth
            continue
        card = committed(decided)
        right += card == truth
        wrong += card is not None and card != truth
    seen = [judge(f, rules, number_check) for f in fronts if f is not None]
    accepted = sum(1 for d in seen if committed(d) is not None)
    rejected = sum(1 for d in seen if d.decision.status == "unknown")
    return {
        "true_accept_rate": right / max(len(known), 1),
        "wrong_identified_rate": wrong / max(len(known), 1),
        "right_card_called_unknown_rate": known_unknown / max(len(known), 1),
        "false_accept_rate": accepted / max(len(seen), 1),
        "fronts_unknown_rate": rejected / max(len(seen), 1),
    }


def calibrate(
    known: list[tuple[Score | None, str]], fronts: list[Score | None], base: Rules, max_far: float, max_wrong: float
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
            r = rates(known, fronts, with_thresholds(base, t))
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
                r = rates(known, fronts, with_thresholds(base, t))
                if r["right_card_called_unknown_rate"] > 0.01 or r["true_accept_rate"] < best[0] - 1e-9:
                    continue
                if chosen is None or r["fronts_unknown_rate"] > chosen[0] + 1e-9:
                    chosen = (r["fronts_unknown_rate"], t)
    assert chosen is not None
    picture = chosen[1]
    # Real cameras of cards never seen: the fronts count as accepted with their agreement this much higher.
    padded = [_padded(s) if s else None for s in fronts]
    layout: tuple[float, float, float] = (
        rates(known, fronts, with_thresholds(base, picture))["true_accept_rate"],
        LAYOUT_OFF,
        0.0,
    )
    for layout_margin in np.arange(0.0, min_margin + 1e-9, 0.02):
        for layout_at in np.arange(0.50, 0.951, 0.025):
            t = replace(picture, layout_margin=round(float(layout_margin), 3), layout_at=round(float(layout_at), 3))
            r = rates(known, padded, with_thresholds(base, t))
            if r["false_accept_rate"] > max_far or r["wrong_identified_rate"] > max_wrong:
                continue
            if (r["true_accept_rate"], t.layout_at, t.layout_margin) > layout:
                layout = (r["true_accept_rate"], t.layout_at, t.layout_margin)
    final = replace(picture, layout_at=layout[1], layout_margin=layout[2])
    return final, rates(known, fronts, with_thresholds(base, final))


def with_thresholds(base: Rules, thresholds: MatchThresholds) -> Rules:
    return replace(base, thresholds=thresholds)


def _padded(score: Score) -> Score:
    """``score`` (and its top-loader reading) with the layout agreement raised by ``LAYOUT_SAFETY``."""

    def raised(recorded: Recorded) -> Recorded:
        layout = recorded.layout
        if layout is None or layout[2] is None:
            return recorded
        return replace(recorded, layout=(layout[0], layout[1], layout[2] + LAYOUT_SAFETY))

    return Score(raised(score.found), raised(score.inside))


#: The looser accept rule reported beside the chosen one (unknown rule off).
LOOSE = MatchThresholds(unknown_below=0.0, accept_at=0.5, min_margin=0.05, unknown_margin=0.0, layout_at=LAYOUT_OFF)


def _set_of(card_id: str | None) -> str:
    return card_id.split("-")[0] if card_id else "none"


def _count(values: Iterable[str]) -> dict[str, int]:
    return dict(sorted(Counter(values).items()))


def _quantiles(values: Iterable[float | None]) -> dict[str, float]:
    v = np.array([x for x in values if x is not None and x >= -0.5])
    if not len(v):
        return {}
    qs = (0.02, 0.05, 0.1, 0.5, 0.9, 0.98, 1.0)
    return {"n": len(v), **{f"q{round(q * 100)}": round(float(np.quantile(v, q)), 3) for q in qs}}


def _best_similarity(recorded: Recorded) -> float:
    return max((hits[0][1] for hits in (recorded.sighting.upright, recorded.sighting.turned) if hits), default=0.0)


def _verdict(recorded: Recorded) -> str:
    return recorded.number[2] if recorded.number else "not read"


def scores_json(
    known: Sequence[tuple[Score | None, str]], fronts: Sequence[Score | None], errors: Sequence[float]
) -> dict[str, Any]:
    return {
        "version": SCORES_VERSION,
        "known": [[s.as_json() if s else None, truth] for s, truth in known],
        "fronts": [s.as_json() if s else None for s in fronts],
        "known_corner_error": list(errors),
    }


def read_scores(path: Path) -> tuple[list[tuple[Score | None, str]], list[Score | None], list[float]]:
    """A ``--dump`` file: the catalogue captures' evidence with their truth, the fronts', the corner errors."""
    try:
        raw = json.loads(path.read_text())
        if raw.get("version") != SCORES_VERSION:
            raise SystemExit(f"bench/openset.py: {path} is from another version of this script: re-measure")
        known = [(Score.from_json(s) if s else None, str(truth)) for s, truth in raw["known"]]
        fronts = [Score.from_json(s) if s else None for s in raw["fronts"]]
        errors = [float(e) for e in raw.get("known_corner_error", [float("nan")] * len(known))]
    except (OSError, ValueError, KeyError, TypeError, AttributeError, IndexError) as error:
        raise SystemExit(f"bench/openset.py: cannot read scores from {path}: {error}") from None
    return known, fronts, errors


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
    # The app's own identifier: its evidence probes measure what the rule (``decide_card``) asks for.
    identifier = Identifier(
        engine.finder, engine.embedder, engine.bundle, engine.matcher, engine.reader, settings.match.lookalike_within
    )
    base = identifier.rules
    started = time.perf_counter()
    if args.scores:
        known, fronts, errors = read_scores(args.scores)
    else:
        known = catalogue_scores(identifier, args.limit)
        fronts = ebay_front_scores(identifier, args.limit)
        errors = list(_CORNER_ERRORS)
    if args.dump:
        args.dump.write_text(json.dumps(scores_json(known, fronts, errors)))
    current = base.thresholds
    good = [k for k, e in zip(known, errors, strict=True) if e == e and e <= WELL_STRAIGHTENED]
    rows = ebay_front_rows(args.limit)
    held_out = [s for s, r in zip(fronts, rows, strict=False) if held_out_photo(r)]
    chosen, chosen_rates = calibrate(known, fronts, base, args.max_far, args.max_wrong)
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
            **{k: round(v, 4) for k, v in rates(known, fronts, with_thresholds(base, current)).items()},
        },
        "chosen_thresholds": {**thresholds_json(chosen), **{k: round(v, 4) for k, v in chosen_rates.items()}},
        # The same thresholds without the number check, and without the layout check as well.
        "chosen_thresholds_no_number_check": {
            k: round(v, 4) for k, v in rates(known, fronts, with_thresholds(base, chosen), number_check=False).items()
        },
        "chosen_thresholds_picture_alone": {
            k: round(v, 4)
            for k, v in rates(
                known, fronts, with_thresholds(base, replace(chosen, layout_at=LAYOUT_OFF)), number_check=False
            ).items()
        },
        # Layout agreement (app/match/layout.py) of the crop with its best card's thumbnail: catalogue
        # captures whose best card is right vs eBay fronts (cards outside the catalogue).
        "layout_agreement": {
            "catalogue_right_best": _quantiles(
                s.found.layout[2] for s, truth in known if s and s.found.layout and s.found.layout[0] == truth
            ),
            "ebay_fronts": _quantiles(s.found.layout[2] for s in fronts if s and s.found.layout),
            "ebay_fronts_similarity_above_0.5": _quantiles(
                s.found.layout[2] for s in fronts if s and s.found.layout and _best_similarity(s.found) > 0.5
            ),
        },
        # Which catalogue set the accepted eBay fronts were matched to; and the same frames under a
        # much looser accept rule, to show what the false-accept limit costs and where it comes from.
        "false_accepts_by_matched_set": _count(
            _set_of(card) for s in fronts if s and (card := committed(judge(s, with_thresholds(base, chosen))))
        ),
        "looser_accept_rule": {
            "accept_at": LOOSE.accept_at,
            "min_margin": LOOSE.min_margin,
            **{k: round(v, 4) for k, v in rates(known, fronts, with_thresholds(base, LOOSE)).items()},
            "false_accepts_by_matched_set": _count(
                _set_of(card) for s in fronts if s and (card := committed(judge(s, with_thresholds(base, LOOSE))))
            ),
        },
        "number_reads": {
            "catalogue_verdicts": _count(_verdict(s.found) for s, _ in known if s),
            "front_verdicts": _count(_verdict(s.found) for s in fronts if s),
        },
        # The finder's share: the same rates on the captures it straightened well (corners within 3 %
        # of the diagonal of the truth) — what the recogniser does when the crop is right.
        "well_straightened_captures": {
            "captures": len(good),
            "of": len(known),
            **{
                k: round(v, 4)
                for k, v in rates(good, fronts, with_thresholds(base, chosen)).items()
                if k != "fronts_unknown_rate"
            },
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
            "false_accept_rate": round(rates(known, held_out, with_thresholds(base, chosen))["false_accept_rate"], 4),
            "fronts_unknown_rate": round(
                rates(known, held_out, with_thresholds(base, chosen))["fronts_unknown_rate"], 4
            ),
        },
        "seconds": round(time.perf_counter() - started, 1),
    }
    if args.write_config:
        args.write_config.write_text("[match]\n" + "".join(f"{k} = {v}\n" for k, v in thresholds_json(chosen).items()))
    print(json.dumps(report, indent=2))
    engine.close()


if __name__ == "__main__":
    main()
