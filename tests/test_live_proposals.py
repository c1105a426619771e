"""The live scanner proposes catalogue cards from the collector number of a card the picture does not
know (``app.match.decision.decide_by_read``, as ``identify`` does): a clip of a real Evolutions scan,
scanned with a bundle where Evolutions (xy12) is not installed but the catalogue knows it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.camera.base import BGRImage
from app.config import load_settings
from app.engine import Engine, load_engine
from app.match.bundle import BundleSet, ReferenceBundle
from app.match.catalogue_rules import installed_sets
from app.match.matcher import Matcher
from app.match.voting import VotingConfig
from app.ocr.reader import STRIP_ROWS
from app.pipeline import ScanEvent, ScanPipeline
from models.sim.capture_sim import CaptureSimulator, SimOptions
from tests.test_pipeline import decisions, held_clip, run, texture

#: The set left out of the bundle: its cards are in the catalogue, not installed.
NOT_INSTALLED = "xy12"


@pytest.fixture(scope="module")
def engine() -> Engine:
    engine = load_engine(load_settings())
    assert engine.reader is not None, engine.ocr_status
    return engine


@pytest.fixture(scope="module")
def bundles(engine: Engine) -> dict[str, ReferenceBundle]:
    """The shipped bundle without one set, by that set (made once per set)."""
    return {}


def without(bundles: dict[str, ReferenceBundle], engine: Engine, set_id: str) -> ReferenceBundle:
    if set_id not in bundles:
        bundles[set_id] = bundle_without_set(engine.bundle, set_id)
    return bundles[set_id]


def bundle_without_set(bundle: ReferenceBundle, set_id: str) -> ReferenceBundle:
    """A copy of ``bundle`` (in memory) as if ``set_id`` were not installed:
    its rows and metadata left out."""
    keep = [i for i, c in enumerate(bundle.row_card_ids) if not c.startswith(f"{set_id}-")]
    metadata = {c: m for c, m in bundle.metadata.items() if not c.startswith(f"{set_id}-")}
    sets: list[BundleSet] = [s for s in bundle.manifest.sets if s.id != set_id]
    manifest = bundle.manifest.model_copy(
        update={"card_count": sum(s.cards for s in sets), "vector_count": len(keep), "sets": sets}
    )
    rows = [bundle.row_card_ids[i] for i in keep]
    return ReferenceBundle(manifest, bundle.dense_embeddings()[keep], rows, metadata)


def scan(engine: Engine, bundle: ReferenceBundle, card: BGRImage, reader: bool = True) -> list[ScanEvent]:
    """``card`` held close (640 px of a 720 px frame) for three seconds, scanned by the live pipeline
    over ``bundle`` (``reader``: with the number OCR, else without)."""
    sim = CaptureSimulator([card], SimOptions(dim_prob=0.0, defocus_prob=0.0))
    quad = sim.pose(np.random.default_rng(3), 640.0)
    pipeline = ScanPipeline(
        engine.finder,
        engine.embedder,
        bundle,
        Matcher(bundle, engine.matcher.thresholds),
        engine.reader if reader else None,
        realtime=False,
    )
    return decisions(run(pipeline, held_clip(sim, 3, [(0, quad)], 3.0, fps=10)))


def without_number(card: BGRImage) -> BGRImage:
    """``card`` with its bottom band, where every era prints the number, painted over in its own colour."""
    out = card.copy()
    top, bottom = (round(card.shape[0] * r) for r in STRIP_ROWS)
    out[top:bottom] = np.median(card[top:bottom].reshape(-1, 3), axis=0).astype(np.uint8)
    return out


# A Scarlet & Violet card (number and set code at the left: ``097/162 TEF``) and an XY one (number at
# the right: ``28/108``), each scanned with its set not installed.
@pytest.mark.parametrize("card_id", ["sv5-97", "xy12-28"])
def test_a_card_of_a_set_not_installed_is_proposed_from_its_number(
    engine: Engine, bundles: dict[str, ReferenceBundle], catalog_dir: Path, card_id: str
) -> None:
    bundle = without(bundles, engine, card_id.split("-")[0])
    (event,) = scan(engine, bundle, texture(catalog_dir, card_id))
    assert event.event == "uncertain"
    assert card_id in [a["card_id"] for a in event.alternatives]
    installed = installed_sets(bundle.metadata)
    assert not any(a["set_id"] in installed for a in event.alternatives)  # the picture would have found those
    assert event.reason is not None and event.reason.startswith("read ")
    assert event.reason.endswith("the picture matches no installed card")
    assert event.ocr is not None and event.reason == f"read {event.ocr}; the picture matches no installed card"


def test_a_card_with_no_legible_number_stays_unknown_within_the_deadline(
    engine: Engine, bundles: dict[str, ReferenceBundle], catalog_dir: Path
) -> None:
    card = without_number(texture(catalog_dir, "xy12-28"))
    bundle = without(bundles, engine, "xy12")
    (with_ocr,) = scan(engine, bundle, card)
    (without_ocr,) = scan(engine, bundle, card, reader=False)
    assert (with_ocr.event, with_ocr.card_id) == ("unknown", None)
    assert (without_ocr.event, without_ocr.card_id, without_ocr.ocr) == ("unknown", None, None)
    # The reads only ever delay "unknown", never past the decision deadline; without OCR nothing waits.
    assert without_ocr.t <= with_ocr.t <= without_ocr.t + VotingConfig().decide_within_s
