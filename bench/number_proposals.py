"""Proposals from the collector number, and reprints decided by it, on real photos of cards whose sets
are not installed: the shared eBay fronts (older cards, none in the 3 installed sets).

Each front is identified as ``cardsight identify`` does it (``app.identify.Identifier`` with the number
reader and the catalogue database): the largest card found in the photo is kept. Reported:

- the statuses, and how many fronts are ``uncertain`` because their best card's art is printed in a set
  not installed (``same art as …``: the Evolutions reprints of Base Set cards) or were ``identified``;
- how often a number was read (text returned by the reader), parsed as a collector number, and turned
  into proposals (``uncertain``, "read …");
- on a hand-labelled sample (``bench/ebay_front_labels.csv``: file → card id, labelled by eye from the
  photo — name, HP and attack names looked up in the catalogue metadata, then the set symbol, the
  1st Edition stamp or the printed number between printings — and extended to the augmented copies of
  each labelled photo), how often the right card is among the alternatives;
- the same photos judged by the bundle's rules alone: what the reprint check and the proposals change.

    python bench/number_proposals.py > bench/results/number_proposals.json
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.config import load_settings
from app.engine import load_engine
from app.identify import IdentifiedCard, Identifier
from app.imageio import read_image_bgr
from app.match.decision import Rules
from bench.common import EBAY, machine

LABELS = Path(__file__).resolve().parent / "ebay_front_labels.csv"


def front_files(limit: int | None) -> list[str]:
    with open(EBAY / "labels.csv", newline="") as handle:
        files = [r["file"] for r in csv.DictReader(handle) if r["side"] == "front"]
    return files[:limit] if limit else files


def hand_labels() -> dict[str, str]:
    """file → card id of the hand-checked sample, extended to every augmented copy of a labelled
    photo (the eBay set's copies of one source photo show the same card)."""
    with open(LABELS, newline="") as handle:
        labelled = {r["file"]: r["card_id"] for r in csv.DictReader(handle)}
    with open(EBAY / "labels.csv", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["side"] == "front"]
    by_source = {r["source_photo"]: labelled[r["file"]] for r in rows if r["file"] in labelled}
    return {r["file"]: by_source[r["source_photo"]] for r in rows if r["source_photo"] in by_source}


def hand_labelled_sources() -> list[str]:
    with open(LABELS, newline="") as handle:
        return [r["file"] for r in csv.DictReader(handle)]


def kind_of(card: IdentifiedCard | None) -> str:
    """What the decision rests on: ``no card``, ``identified``, ``reprint`` (uncertain: same art printed
    in a set not installed), ``proposal`` (uncertain from the number read), ``uncertain``, ``unknown``…"""
    if card is None:
        return "no card"
    m = card.match
    if m.status == "uncertain" and any(not a.pictured for a in m.alternatives):
        return "proposal" if m.reason.startswith("read ") else "reprint"
    return m.status


def record(identifier: Identifier, path: Path) -> dict[str, Any]:
    image = read_image_bgr(path)
    cards = identifier.identify_image(image) if image is not None else []
    card = max(cards, key=lambda c: c.found.quad.area_frac) if cards else None
    if card is None:
        return {"file": path.name, "kind": "no card"}
    m = card.match
    return {
        "file": path.name,
        "kind": kind_of(card),
        "status": m.status,
        "card_id": m.card_id,
        "reason": m.reason,
        "number_read": card.number_read,
        "alternatives": [a.card_id for a in m.alternatives[:5]],
        "not_installed": [a.card_id for a in m.alternatives if not a.pictured],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=None, help="fewer photos, for a quick look")
    parser.add_argument("--dump", type=Path, help="also write every photo's record (JSON lines)")
    args = parser.parse_args()
    settings = load_settings()
    engine = load_engine(settings)
    if engine.reader is None:
        raise SystemExit(f"bench/number_proposals.py needs the number reader: {engine.ocr_status}")
    identifier = engine.identifier(settings)
    if identifier.catalog is None:
        raise SystemExit("bench/number_proposals.py needs the catalogue database")
    started = time.perf_counter()
    records = [record(identifier, EBAY / "images" / f) for f in front_files(args.limit)]
    seconds = time.perf_counter() - started
    # The same photos judged by the bundle's rules alone (no reprint check, no proposals): only a
    # photo the catalogue's rules did not call unknown can differ.
    identifier.rules = Rules(identifier.rules.thresholds, identifier.bundle.metadata, identifier.rules.lookalike_within)
    before = {
        r["file"]: record(identifier, EBAY / "images" / r["file"])
        for r in records
        if r["kind"] not in ("unknown", "no card")
    }
    identified_before = {f: r["card_id"] for f, r in before.items() if r["kind"] == "identified"}
    if args.dump:
        args.dump.write_text("".join(json.dumps(r) + "\n" for r in records))
    labels = hand_labels()
    labelled = [r for r in records if r["file"] in labels]
    among = [r for r in labelled if labels[r["file"]] in {*r.get("alternatives", []), *r.get("not_installed", [])}]
    proposed = [r for r in records if r["kind"] == "proposal"]
    reprints = [r for r in records if r["kind"] == "reprint"]
    read = [r for r in records if r.get("number_read")]
    report = {
        "benchmark": "number proposals and reprints on real photos of cards from sets not installed",
        "machine": machine(),
        "data": {
            "ebay_fronts": len(records),
            "installed_sets": sorted(identifier.installed),
            "catalogue_cards": identifier.catalog.card_count(),
            "hand_labelled": len(labelled),
            "labels": LABELS.name,
        },
        "kinds": dict(Counter(r["kind"] for r in records)),
        "identified_as": dict(Counter(r["card_id"] for r in records if r["kind"] == "identified")),
        "without_the_catalogue": {
            "identified": len(identified_before),
            "identified_as": dict(Counter(identified_before.values())),
            "now": dict(Counter(r["kind"] for r in records if r["file"] in identified_before)),
            "now_named_by_their_number": sorted(
                r["card_id"] for r in records if r["file"] in identified_before and r["reason"].startswith("number")
            ),
        },
        "reprint_uncertain": {
            "fronts": len(reprints),
            "by_card": dict(Counter(r["card_id"] for r in reprints)),
            "example_reasons": sorted({r["reason"] for r in reprints})[:5],
        },
        "number_reads": {
            "text_read": len(read),
            "proposals_made": len(proposed),
            "example_reasons": sorted({r["reason"] for r in proposed})[:5],
        },
        "hand_labelled_sample": {
            "source_photos": len(hand_labelled_sources()),
            "photos": len(labelled),
            "right_card_among_alternatives": len(among),
            "right_card_first": sum(1 for r in labelled if r.get("card_id") == labels[r["file"]]),
            "right_card_proposed_from_the_number": sum(1 for r in among if r["kind"] == "proposal"),
            "right_card_as_a_reprint_alternative": sum(1 for r in among if r["kind"] == "reprint"),
            "identified_wrongly": sum(1 for r in labelled if r["kind"] == "identified"),
            "per_photo": [
                {"file": r["file"], "truth": labels[r["file"]], "kind": r["kind"], "card_id": r.get("card_id")}
                for r in labelled
            ],
        },
        "seconds": round(seconds, 1),
        "seconds_per_photo": round(seconds / max(len(records), 1), 3),
    }
    print(json.dumps(report, indent=2))
    engine.close()


if __name__ == "__main__":
    main()
