"""Calibrates the collector-number decision (``app.ocr.spotting``) on simulated 720p captures.

For catalogue cards (their own print) and re-numbered copies of them (``models.sim.lookalike``), each
captured by the simulator the way ``bench/live.py`` shows cards (held in focus and in light), found by
the real finder, its number strip read by the real OCR, this measures:

* ``fit_true``: the fit of the card's own number (how often the right number is accepted);
* ``fit_near``: the best fit of any number one digit away from it (a look-alike printing, in the
  catalogue or not, whose number differs in one digit: the hardest case there is);
* ``fit_other``: the fit of another card's number (an unrelated look-alike).

and, for exact reads alone and for the check ``app/ocr/rerank.py`` adds (the read number must fit
``min_log_ratio`` better than the close rival's), the share of the captures whose number line was found
where the right card is taken against another card's number, where it is taken against the number one
digit away that fits best, and where such a one-digit-off rival in the catalogue would be taken instead
(confident wrong; the worst case over every such number). ``unparsed_lines``: what accepting a number
that fits a line which did not parse would add, and risk; ``fused_reads``: the same for the fits of
two or three reads of one card summed (neither is shipped).

Prints JSON. ``python bench/number_fit.py [--cards 24] [--captures 10]`` (≈ 2 min on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.config import load_settings
from app.engine import load_engine
from app.ocr.number import CollectorNumber, metadata_number, numbers_agree
from app.ocr.reader import number_corners, warp_number_strip
from app.ocr.spotting import number_fit
from bench.common import CATALOG, machine
from models.sim.capture_sim import CaptureSimulator, SimOptions, load_card_texture
from models.sim.lookalike import NumberNotFound, renumber_card

MISFITS = (1.0, 1.5, 2.0, 3.0, 5.0)
LOG_RATIOS = (2.0, 3.0, 4.0, 6.0)


def one_digit_away(number: CollectorNumber) -> list[CollectorNumber]:
    """Every number that differs from ``number`` in one printed digit (number or total; padded)."""
    total = number.printed_total or ""
    width = max(len(total.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ")), 1)
    head = number.number.rstrip("0123456789")
    digits = number.number[len(head) :].lstrip("0").zfill(width if total else 3)
    out: list[CollectorNumber] = []
    for i, d in enumerate(digits):
        for r in "0123456789":
            if r != d:
                out.append(CollectorNumber(head + digits[:i] + r + digits[i + 1 :], number.printed_total))
    total_head = total.rstrip("0123456789")
    total_digits = total[len(total_head) :]
    for i, d in enumerate(total_digits):
        for r in "0123456789":
            if r != d:
                out.append(CollectorNumber(number.number, total_head + total_digits[:i] + r + total_digits[i + 1 :]))
    return out


def fused_reads(read: list[dict[str, Any]], k: int, ratio: float = 4.0) -> dict[str, Any]:
    """Several reads of one card (consecutive captures whose number line was found), their fits
    summed per number: independent misreads fall on different digits, so the right number may be the
    only one that explains them all. Compared with taking any one exact read (the check included)."""
    groups: list[list[dict[str, Any]]] = []
    by_card: dict[str, list[dict[str, Any]]] = {}
    for r in read:
        by_card.setdefault(r["card"], []).append(r)
    for reads in by_card.values():
        groups += [reads[i : i + k] for i in range(0, len(reads) - k + 1, k)]
    exact_right = exact_wrong_rival = exact_wrong_stranger = 0
    fused: dict[float, dict[str, int]] = {
        m: {"right": 0, "right_no_exact_read_was": 0, "near_passes": 0} for m in MISFITS
    }
    for group in groups:
        true = sum(r["fit_true"] for r in group)
        other = sum(r["fit_other"] for r in group)
        each_near = np.sum([r["fit_each_near"] for r in group], axis=0)
        near = float(each_near.max())
        some_exact_right = any(r["parsed"] == "true" and r["fit_true"] - r["fit_other"] >= ratio for r in group)
        exact_right += some_exact_right
        exact_wrong_rival += any(r["parsed"] == "near" and r["fit_near"] - r["fit_true"] >= ratio for r in group)
        exact_wrong_stranger += any(r["parsed"] == "near" for r in group)
        for misfit in MISFITS:
            floor = -misfit * len(group)
            right = bool(true >= floor and true - other >= ratio and true - near >= ratio)
            fused[misfit]["right"] += right
            fused[misfit]["right_no_exact_read_was"] += right and not some_exact_right
            fused[misfit]["near_passes"] += bool(np.any((each_near >= floor) & (each_near - true >= ratio)))
    n = max(len(groups), 1)
    return {
        "groups": len(groups),
        "any_exact_read_right": round(exact_right / n, 4),
        "any_exact_read_takes_a_rival_one_digit_off": round(exact_wrong_rival / n, 4),
        "any_exact_read_takes_a_stranger_one_digit_off": round(exact_wrong_stranger / n, 4),
        "fused": {
            f"max_misfit_per_read_{m:g}": {
                "right": round(v["right"] / n, 4),
                "right_where_no_exact_read_was": round(v["right_no_exact_read_was"] / n, 4),
                "a_number_one_digit_off_passes": round(v["near_passes"] / n, 4),
            }
            for m, v in fused.items()
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cards", type=int, default=24)
    parser.add_argument("--captures", type=int, default=10, help="captures per card and per printing")
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    settings = load_settings()
    engine = load_engine(settings)
    reader = engine.reader
    if reader is None:
        raise SystemExit(f"OCR unavailable: {engine.ocr_status}")
    meta = engine.bundle.metadata
    rng = np.random.default_rng(args.seed)
    ids = [c for c in engine.bundle.card_ids() if metadata_number(meta[c]) is not None]
    chosen = [ids[i] for i in rng.choice(len(ids), size=min(args.cards * 2, len(ids)), replace=False)]

    printings: list[tuple[str, np.ndarray, CollectorNumber, str]] = []  # (label, texture, number, series)
    for card_id in chosen:
        if len(printings) >= 2 * args.cards:
            break
        number = metadata_number(meta[card_id])
        assert number is not None
        texture = load_card_texture(CATALOG / "images" / str(meta[card_id]["set_id"]) / f"{card_id}.jpg")
        total = number.printed_total or "100"
        top = max(int("".join(c for c in total if c.isdigit()) or 100), 2)
        new = f"{int(rng.integers(1, top)):0{len(total)}d}/{total}"
        try:
            renumbered = renumber_card(texture, new, reader)
        except NumberNotFound:
            continue  # OCR cannot find this scan's number: it cannot be re-rendered either
        series = str(meta[card_id].get("series", ""))
        printings.append((card_id, texture, number, series))
        printings.append((f"{card_id} as {new}", renumbered, CollectorNumber(*new.split("/")), series))

    # As bench/live.py: a person holding cards to a scanner keeps them in focus and in light.
    sim = CaptureSimulator([p[1] for p in printings], SimOptions(size=(1280, 720), dim_prob=0.0, defocus_prob=0.0))
    rows: list[dict[str, Any]] = []
    started = time.perf_counter()
    for index, (label, _texture, number, series) in enumerate(printings):
        # Another card's number (the next printing with a different one: random re-numbering may repeat).
        unrelated = next(
            p[2]
            for k in range(2, len(printings) + 2)
            if not numbers_agree((p := printings[(index + k) % len(printings)])[2], number)
        )
        for _ in range(args.captures):
            capture = sim.render(rng, card_index=index)
            found = engine.finder.find_cards(capture.image)
            if not found:
                rows.append({"card": label, "found": False})
                continue
            card = max(found, key=lambda f: f.quad.area_frac)
            strip = warp_number_strip(capture.image, card.corners)
            reading = reader.read_strip(strip, corners=number_corners([series]))
            lines = list(reading.line_log_probs)
            parsed = None
            if reading.number is not None:
                near_numbers = one_digit_away(number)
                parsed = (
                    "true"
                    if numbers_agree(reading.number, number)
                    else "near"
                    if any(numbers_agree(reading.number, n) for n in near_numbers)
                    else "other"
                )
            rows.append(
                {
                    "card": label,
                    "found": True,
                    "read": [text for text, _score in reading.lines],
                    "parsed": parsed,
                    "fit_true": number_fit(lines, number, reading.alphabet),
                    "fit_each_near": [number_fit(lines, n, reading.alphabet) for n in one_digit_away(number)],
                    "fit_other": number_fit(lines, unrelated, reading.alphabet),
                }
            )
    # The rule of app/ocr/rerank.py: an exact read decides; a line that did not parse may still be
    # decided by the fits. Rates over the captures whose number line was found at all.
    np.seterr(invalid="ignore")  # -inf − -inf where no line was read: NaN compares false, as it should
    for r in rows:
        if r["found"]:
            r["fit_near"] = max(r["fit_each_near"])
    read = [r for r in rows if r["found"] and np.isfinite(r["fit_other"])]
    true = np.array([r["fit_true"] for r in read])
    near = np.array([r["fit_near"] for r in read])
    other = np.array([r["fit_other"] for r in read])
    unparsed = np.array([r["parsed"] is None for r in read])
    parsed_true = np.array([r["parsed"] == "true" for r in read])
    parsed_near = np.array([r["parsed"] == "near" for r in read])

    def share(mask: np.ndarray) -> float:
        return round(float(mask.mean()), 4) if mask.size else 0.0

    grid = [
        {
            "rule": "exact read alone (before the check)",
            "accepted_against_another_cards_number": share(parsed_true),
            "accepted_against_a_rival_one_digit_off": share(parsed_true),
            "wrong_if_rival_one_digit_off": share(parsed_near),
        }
    ]
    for ratio in LOG_RATIOS:
        grid.append(
            {
                "rule": f"exact read, and its number fits e^{ratio:g} better than the rival's",
                "min_log_ratio": ratio,
                "accepted_against_another_cards_number": share(parsed_true & (true - other >= ratio)),
                "accepted_against_a_rival_one_digit_off": share(parsed_true & (true - near >= ratio)),
                "wrong_if_rival_one_digit_off": share(parsed_near & (near - true >= ratio)),
            }
        )
    # What taking lines that did not parse would add (not shipped: see the README).
    unparsed_fits = {
        f"max_misfit_{misfit:g}": {
            "right_number_taken": share(unparsed & (true >= -misfit) & (true - other >= 4.0)),
            "a_number_one_digit_off_would_be_taken": share(unparsed & (near >= -misfit)),
            "right_number_taken_if_it_also_beats_every_number_one_digit_off": share(
                unparsed & (true >= -misfit) & (true - near >= 4.0)
            ),
        }
        for misfit in MISFITS
    }

    fusion = {f"{k}_reads": fused_reads(read, k) for k in (2, 3)}

    def quantiles(values: np.ndarray) -> dict[str, float]:
        finite = np.where(np.isfinite(values), values, -99.0)
        return {f"q{q}": round(float(np.percentile(finite, q)), 2) for q in (5, 25, 50, 75, 95)}

    print(
        json.dumps(
            {
                "benchmark": "collector-number fit (app/ocr/spotting.py) on simulated 1280x720 captures",
                "machine": machine(),
                "data": f"{len(printings)} printings: {len(printings) // 2} catalogue scans from {CATALOG} and"
                " a re-numbered copy of each (models/sim/lookalike.py), through models/sim/capture_sim.py",
                "captures": len(rows),
                "found": sum(r["found"] for r in rows),
                "number_line_found": len(read),
                "seconds": round(time.perf_counter() - started, 1),
                "fit_true": quantiles(true),
                "fit_near": quantiles(near),
                "fit_other": quantiles(other),
                "grid": grid,
                "unparsed_lines": unparsed_fits,
                "fused_reads": fusion,
                "rows": [{k: v for k, v in r.items() if k != "fit_each_near"} for r in rows],
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
