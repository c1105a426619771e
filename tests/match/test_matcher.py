from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.match.bundle import BundleManifest, BundleSet, ReferenceBundle
from app.match.matcher import Matcher, MatchResult, MatchThresholds, Status, worth_a_look_inside


def synthetic_bundle(card_ids: list[str], vectors: np.ndarray, views: int = 1) -> ReferenceBundle:
    manifest = BundleManifest(
        model_name="test",
        model_sha256="0" * 64,
        dim=vectors.shape[1],
        preprocessing={},
        card_count=len(set(card_ids)),
        vector_count=len(card_ids),
        sets=[BundleSet(id="t", name="Test", cards=len(set(card_ids)))],
        build_time="now",
        views_per_card=views,
    )
    metadata = {c: {"name": c} for c in card_ids}
    return ReferenceBundle(manifest, vectors.astype(np.float32), card_ids, metadata)


def unit(*values: float) -> np.ndarray:
    v = np.array(values, np.float32)
    return v / np.linalg.norm(v)


@pytest.fixture
def thresholds() -> MatchThresholds:
    return MatchThresholds(unknown_below=0.5, accept_at=0.8, min_margin=0.05, back_at=0.6)


def test_top_k_lists_distinct_cards_best_vector_each() -> None:
    ids = ["a", "a", "b", "c"]
    vectors = np.stack([unit(1, 0, 0), unit(0.9, 0.1, 0), unit(0, 1, 0), unit(0, 0, 1)])
    matcher = Matcher(synthetic_bundle(ids, vectors, views=2))
    hits = matcher.search(unit(1, 0.05, 0)[None], k=3)[0]
    assert [c for c, _ in hits] == ["a", "b", "c"]
    assert hits[0][1] == pytest.approx(float(unit(1, 0.05, 0) @ unit(1, 0, 0)), abs=1e-5)


def test_exact_and_hnsw_search_agree() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(300, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    bundle = synthetic_bundle([f"c{i}" for i in range(300)], vectors)
    queries = vectors[:20] + 0.01
    exact = Matcher(bundle, exact_below=10**6).search(queries, k=3)
    hnsw = Matcher(bundle, exact_below=0).search(queries, k=3)
    assert [h[0][0] for h in exact] == [f"c{i}" for i in range(20)]
    # HNSW (int8, multi-threaded build: the graph differs run to run) is approximate: on these tiny
    # random 16-d vectors it has missed 1 of 20 once in CI. Recall ≥ 0.95, and whatever it proposes
    # is re-scored exactly in float32.
    agree = [e[0] for e, h in zip(exact, hnsw, strict=True) if e[0][0] == h[0][0]]
    assert len(agree) >= 19
    for e, h in zip(exact, hnsw, strict=True):
        if e[0][0] == h[0][0]:
            assert h[0][1] == pytest.approx(e[0][1], abs=1e-6)


def test_decision_identified_uncertain_unknown(thresholds: MatchThresholds) -> None:
    matcher = Matcher(synthetic_bundle(["a", "b"], np.stack([unit(1, 0), unit(0, 1)])), thresholds)
    assert matcher.decide([("a", 0.95), ("b", 0.5)]).status == "identified"
    assert matcher.decide([("a", 0.95), ("b", 0.93)]).status == "uncertain"  # look-alikes: margin too small
    assert matcher.decide([("a", 0.7), ("b", 0.2)]).status == "uncertain"  # not similar enough to accept
    unknown = matcher.decide([("a", 0.4), ("b", 0.1)])
    assert unknown.status == "unknown" and unknown.card_id is None
    assert matcher.decide([]).status == "unknown"


def test_confidence_is_between_0_and_1_and_orders_alternatives(thresholds: MatchThresholds) -> None:
    matcher = Matcher(synthetic_bundle(["a", "b", "c"], np.eye(3, dtype=np.float32)), thresholds)
    result = matcher.decide([("a", 0.9), ("b", 0.85), ("c", 0.7)])
    assert 0.0 <= result.confidence <= 1.0
    confidences = [a.confidence for a in result.alternatives]
    assert confidences == sorted(confidences, reverse=True)
    # The picture's shares of the top-k add up to 1; a similarity short of accept_at scales its card down.
    assert sum(a.picture_share for a in result.alternatives) == pytest.approx(1.0)
    assert result.alternatives[2].confidence < result.alternatives[2].picture_share
    assert result.margin == pytest.approx(0.05)


def test_card_back_wins_only_when_similar_enough(thresholds: MatchThresholds) -> None:
    ids = ["back:en", "a"]
    matcher = Matcher(synthetic_bundle(ids, np.stack([unit(1, 0), unit(0, 1)])), thresholds)
    back = matcher.decide([("back:en", 0.9), ("a", 0.3)])
    assert back.status == "card_back" and back.card_id is None
    assert all(not a.card_id.startswith("back:") for a in back.alternatives)
    assert matcher.decide([("back:en", 0.4), ("a", 0.3)]).status == "unknown"


def test_a_close_second_printing_of_the_same_card_is_uncertain_not_unknown() -> None:
    """A tiny margin says "stranger" only when the runner-up is another card: a reprint of the same
    card (same name) is what the collector number decides, so it must reach the number check."""
    ids = ["base-4", "evo-11", "other"]
    vectors = np.stack([unit(1, 0, 0), unit(0.999, 0.045, 0), unit(0, 0, 1)])
    query = unit(0.95, 0.02, 0.3)[None]
    t = MatchThresholds(unknown_below=0.5, accept_at=0.8, min_margin=0.05, unknown_margin=0.05, lookalike_above=0.99)
    reprints = synthetic_bundle(ids, vectors)
    reprints.metadata.update({"base-4": {"name": "Charizard"}, "evo-11": {"name": "Charizard"}})
    strangers = synthetic_bundle(ids, vectors)
    strangers.metadata.update({"base-4": {"name": "Charizard"}, "evo-11": {"name": "Blastoise"}})
    assert Matcher(reprints, t).match(query)[0].status == "uncertain"
    assert Matcher(strangers, t).match(query)[0].status == "unknown"


def test_the_graph_searches_with_the_measured_expansion_after_a_save_and_load(tmp_path: Path) -> None:
    """usearch keeps ``expansion_search`` out of the file: a loaded bundle must set it again; the
    graph's connectivity is kept in it."""
    from app.match.graph import GRAPH_CONNECTIVITY, SEARCH_EXPANSION

    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(40, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    bundle = synthetic_bundle([f"c{i}" for i in range(40)], vectors)
    assert bundle.index.expansion_search == SEARCH_EXPANSION
    saved = bundle.save(tmp_path / "bundle")
    loaded = ReferenceBundle.load(saved)
    assert loaded.index.expansion_search == SEARCH_EXPANSION
    assert bundle.index.connectivity == loaded.index.connectivity == GRAPH_CONNECTIVITY


def test_a_bundle_saved_with_a_sparser_graph_is_searched_with_the_wider_expansion(tmp_path: Path) -> None:
    """Bundles built before connectivity 24 keep their 16-link graph; searched at the new, narrower
    expansion they would find fewer true neighbours, so they get the expansion measured for them."""
    from usearch.index import Index

    from app.catalog.build import write_checksums
    from app.match.graph import SPARSE_GRAPH_SEARCH_EXPANSION

    rng = np.random.default_rng(4)
    vectors = rng.normal(size=(40, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    saved = synthetic_bundle([f"c{i}" for i in range(40)], vectors).save(tmp_path / "bundle")
    old_graph = Index(ndim=8, metric="cos", dtype="i8", connectivity=16)
    old_graph.add(np.arange(40, dtype=np.uint64), vectors)
    old_graph.save(str(saved / "usearch.index"))
    write_checksums(saved)  # the old graph is the bundle's own, not damage
    loaded = ReferenceBundle.load(saved)
    assert loaded.index.connectivity == 16
    assert loaded.index.expansion_search == SPARSE_GRAPH_SEARCH_EXPANSION


@pytest.mark.parametrize(
    ("status", "similarity", "expected"),
    [
        ("uncertain", 0.6, True),  # loosely like a card: maybe a top-loader's outline around it
        ("unknown", 0.4, True),
        ("uncertain", 0.95, False),  # closely like a card with a look-alike printing: the number decides
        ("identified", 0.7, False),
        ("card_back", 0.7, False),
    ],
)
def test_a_second_look_inside_is_worth_it_only_for_a_loose_match_that_names_nothing(
    status: Status, similarity: float, expected: bool
) -> None:
    match = MatchResult(status, "a" if status in ("identified", "uncertain") else None, similarity, 0.5, 0.0)
    assert worth_a_look_inside(match, MatchThresholds()) is expected
