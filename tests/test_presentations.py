"""One physical presentation of a card = one decision, on clips built from real material
(``models/sim/scenarios.py``: real scans and eBay photos of fronts and backs): a kiosk fed a stack at one
spot names every card, a second copy laid again counts again, a hand over a card or a flip in place do
what a person expects. ``bench/scenarios.py`` runs the same suite at full length and prints the figures."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.config import load_settings
from app.engine import Engine, load_engine
from models.sim.scenarios import Material, Scenario, judge, scan_clip, seeded_suite, write_clip

#: Frames each card lies on the spot in these tests (1.5 s): shorter than the bench's, same events.
HOLD = 45
SEED = 3

MUST_HOLD = [
    "kiosk_swap_gap0",
    "kiosk_swap_gap5",
    "kiosk_swap_gap20",
    "duplicate_laid_twice",
    "hand_over_card",
    "flip_to_back_and_front",
    "unknown_then_catalogue_card",
    "side_by_side_replaced_one_at_a_time",
    "card_in_a_toploader",
    "binder_page_3x3_panned",
]


@pytest.fixture(scope="module")
def engine() -> Engine:
    engine = load_engine(load_settings())
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def scenarios(engine: Engine, catalog_dir: Path, ebay_dir: Path) -> tuple[Material, dict[str, Scenario]]:
    material = Material(catalog_dir, ebay_dir)
    return material, {s.name: s for s in seeded_suite(engine.bundle, material, SEED, HOLD)}


@pytest.mark.slow
@pytest.mark.parametrize("name", MUST_HOLD)
def test_each_presentation_in_the_scenario_is_one_decision_of_the_right_kind(
    name: str, engine: Engine, scenarios: tuple[Material, dict[str, Scenario]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    material, suite = scenarios
    scenario = suite[name]
    clip = write_clip(scenario, material, tmp_path_factory.mktemp("clips"), SEED, (1280, 720))
    events, _ = scan_clip(engine, load_settings(), clip)
    verdict = judge(scenario, events)
    assert verdict["holds"], (verdict["expected"], verdict["decision_events"])


def test_the_kiosk_swap_without_a_gap_is_one_track_per_card_and_each_ends(
    engine: Engine, scenarios: tuple[Material, dict[str, Scenario]], tmp_path: Path
) -> None:
    material, suite = scenarios
    scenario = suite["kiosk_swap_gap0"]
    events, _ = scan_clip(engine, load_settings(), write_clip(scenario, material, tmp_path, SEED, (1280, 720)))
    decided = [e for e in events if e.event == "identified"]
    lost = [e for e in events if e.event == "lost"]
    assert len({e.track for e in decided}) == 4
    # Each card's presentation ends (``lost``) when the next one takes its place, before the next decision.
    assert [e.track for e in lost] == [e.track for e in decided]
    assert all(gone.t <= after.t for gone, after in zip(lost, decided[1:], strict=False))
