"""Identification benchmark: per-stage speed, top-1/top-5 on simulated captures, card backs and
not-in-catalogue fronts from the real eBay photos, and search speed at 20,000 references.

    python bench/identify.py [--captures 538] [--bundle reference/default]

Prints one JSON object. Data: simulated captures (seeded) of every card in the shared pokemontcg.io
catalogue, matched against the bundle; eBay photos (card backs of the held-out split; all fronts,
none of which are in the catalogue); synthetic unit vectors for search at scale.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import zlib
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import PROJECT_ROOT
from app.config import load_settings
from app.embed import create_embedder
from app.engine import embedder_spin_wait
from app.identify import Identifier
from app.imageio import read_image_bgr
from app.match.bundle import ReferenceBundle
from app.match.matcher import Matcher
from app.vision.finder import CardFinder
from bench.common import CATALOG, EBAY, machine, timed
from models.sim.capture_sim import CaptureSimulator, SimOptions, load_card_texture


def stage_speed(embedder, live, matcher: Matcher) -> dict[str, float]:
    """Per stage, as the issue lists them: ``preprocess`` (straightened card → input tensor), ``embed``
    (the network alone, on a prepared tensor) and ``search``; ``*_with_preprocess`` is what one
    ``embedder.embed`` call costs (both). ``embedder`` as `cardsight identify` runs it; ``live`` as the
    live scanner does (by default without ONNX Runtime's threads busy-waiting for work, which is
    slower alone but leaves the cores to the finder and the number reader)."""
    rng = np.random.default_rng(0)
    cards = [rng.integers(0, 255, (614, 440, 3), dtype=np.uint8) for _ in range(8)]
    one, eight = embedder.prepare(cards[:1]), embedder.prepare(cards)
    vector = embedder.embed(cards[:1])
    return {
        "preprocess_ms_per_card": timed(lambda: embedder.prepare(cards[:1]), 100),
        "embed_batch1_ms_per_card": timed(lambda: embedder.infer(one), 100),
        "embed_batch8_ms_per_card": round(timed(lambda: embedder.infer(eight), 20) / 8, 3),
        "embed_batch1_ms_per_card_live_scanner": timed(lambda: live.infer(one), 100),
        "embed_batch8_ms_per_card_live_scanner": round(timed(lambda: live.infer(eight), 20) / 8, 3),
        "embed_batch1_with_preprocess_ms_per_card": timed(lambda: embedder.embed(cards[:1]), 100),
        "embed_batch1_with_preprocess_ms_per_card_live_scanner": timed(lambda: live.embed(cards[:1]), 100),
        "search_ms_bundle": timed(lambda: matcher.search(vector), 200),
    }


def search_at_scale(dim: int, n: int = 20_000) -> dict[str, object]:
    """Synthetic unit vectors; each query is a reference plus noise (cosine ≈ 0.9 to it). Speed: one
    query at a time over 200 queries (the app asks about a few crops at once); recall over 1,000."""
    from usearch.index import Index

    from app.match.graph import GRAPH_CONNECTIVITY, SEARCH_EXPANSION

    rng = np.random.default_rng(1)
    refs = rng.normal(size=(n, dim)).astype(np.float32)
    refs /= np.linalg.norm(refs, axis=1, keepdims=True)
    queries = refs[:1000] + rng.normal(scale=0.5 / np.sqrt(dim), size=(1000, dim)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    truth = np.arange(1000)
    exact_ms = timed(lambda: [int(np.argmax(refs @ q)) for q in queries[:50]], 5) / 50
    exact_recall = float(np.mean(np.argmax(queries @ refs.T, axis=1) == truth))
    out: dict[str, object] = {
        "references": n,
        "dim": dim,
        "exact_numpy_f32": {"ms_per_query": round(exact_ms, 3), "recall_at_1": round(exact_recall, 4)},
    }
    from app.match.bundle import BundleManifest, BundleSet

    manifest = BundleManifest(
        model_name="synthetic",
        model_sha256="0" * 64,
        dim=dim,
        preprocessing={},
        card_count=n,
        vector_count=n,
        sets=[BundleSet(id="synthetic", name="synthetic", cards=n)],
        build_time="",
    )
    bundle = ReferenceBundle(manifest, refs, [f"c{i}" for i in range(n)], {f"c{i}": {} for i in range(n)})
    matcher = Matcher(bundle)
    ms = timed(lambda: [matcher.search(q[None], 5) for q in queries[:200]], 5) / 200
    found_ids = [matcher.search(q[None], 5)[0][0][0] for q in queries]
    out["matcher_default"] = {
        "mode": "exact" if matcher.exact else "hnsw-i8 + exact re-score",
        "graph": {"connectivity": GRAPH_CONNECTIVITY, "expansion_search": SEARCH_EXPANSION},
        "ms_per_query": round(ms, 3),
        "recall_at_1": round(float(np.mean([f == f"c{i}" for i, f in enumerate(found_ids)])), 4),
    }
    for dtype in ("f32", "f16", "i8"):
        index = Index(ndim=dim, metric="cos", dtype=dtype)
        index.add(np.arange(n, dtype=np.uint64), refs)

        def search_all(index: Index = index) -> None:
            for q in queries[:200]:
                index.search(q, 5, threads=1)

        ms = timed(search_all, 5) / 200
        found = index.search(queries, 1)
        recall = float(np.mean(np.asarray(found.keys).reshape(-1) == truth))
        # usearch's own defaults (connectivity 16, expansion 64), no re-scoring: the library alone.
        out[f"usearch_hnsw_{dtype}"] = {"ms_per_query": round(ms, 3), "recall_at_1": round(recall, 4)}
    return out


def simulated_accuracy(identifier: Identifier, bundle: ReferenceBundle, n: int) -> dict[str, object]:
    paths = []
    for card_id in bundle.card_ids():
        meta = bundle.metadata[card_id]
        paths.append((card_id, CATALOG / "images" / str(meta["set_id"]) / f"{card_id}.jpg"))
    sim = CaptureSimulator([load_card_texture(p) for _, p in paths], SimOptions(size=(1280, 720)))
    rng = np.random.default_rng(42)
    top1 = top5 = found = identified_right = identified_wrong = 0
    statuses: dict[str, int] = {}
    for i in range(n):
        index = i % len(paths)
        capture = sim.render(rng, card_index=index)
        truth = paths[index][0]
        cards = identifier.identify_image(capture.image)
        if not cards:
            statuses["no card found"] = statuses.get("no card found", 0) + 1
            continue
        found += 1
        best = max(cards, key=lambda c: c.found.quad.area_frac)
        m = best.match
        statuses[m.status] = statuses.get(m.status, 0) + 1
        ranked = [a.card_id for a in m.alternatives]
        top1 += int(bool(ranked) and ranked[0] == truth)
        top5 += int(truth in ranked[:5])
        if m.status == "identified":
            identified_right += int(m.card_id == truth)
            identified_wrong += int(m.card_id != truth)
    return {
        "captures": n,
        "frame": "1280x720",
        "found_fraction": round(found / n, 4),
        "top1": round(top1 / n, 4),
        "top5": round(top5 / n, 4),
        "statuses": statuses,
        "identified_correct": identified_right,
        "identified_wrong": identified_wrong,
    }


def ebay(identifier: Identifier) -> dict[str, object]:
    with open(EBAY / "labels.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    backs_held = [r for r in rows if r["side"] == "back" and zlib.crc32(r["source_photo"].encode()) % 2 == 1]
    fronts = [r for r in rows if r["side"] == "front"]

    def statuses(selection: list[dict[str, str]]) -> tuple[dict[str, int], list[float]]:
        counts: dict[str, int] = {}
        confidences = []
        for row in selection:
            cards = identifier.identify_image(read_image_bgr(EBAY / "images" / row["file"]))
            status = "no card found"
            if cards:
                best = max(cards, key=lambda c: c.found.quad.area_frac)
                status = best.match.status
                if status == "identified":
                    confidences.append(best.match.confidence)
            counts[status] = counts.get(status, 0) + 1
        return counts, confidences

    back_counts, _ = statuses(backs_held)
    front_counts, accepted = statuses(fronts)
    accepted_confidence = round(float(np.max(accepted)), 4) if accepted else None
    return {
        "heldout_backs": len(backs_held),
        "backs_as_card_back_fraction": round(back_counts.get("card_back", 0) / max(len(backs_held), 1), 4),
        "backs_statuses": back_counts,
        "fronts_not_in_catalogue": len(fronts),
        "fronts_false_accept_rate": round(front_counts.get("identified", 0) / max(len(fronts), 1), 4),
        "fronts_statuses": front_counts,
        "fronts_identified_max_confidence": accepted_confidence,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--captures", type=int, default=538)
    parser.add_argument("--bundle", type=Path, default=PROJECT_ROOT / "reference" / "default")
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--skip-ebay", action="store_true")
    args = parser.parse_args()
    settings = load_settings()
    model = args.model or settings.embed.model
    # As `cardsight identify` runs it (a batch command), and as the live scanner does.
    threads = settings.embed.threads
    embedder = create_embedder(model, ["onnx"], threads, spin_wait=embedder_spin_wait(settings, live=False))
    live = create_embedder(model, ["onnx"], threads, spin_wait=embedder_spin_wait(settings, live=True))
    bundle = ReferenceBundle.load(args.bundle, embedder.model_sha256, embedder.dim)
    matcher = Matcher(bundle)
    identifier = Identifier(CardFinder(), embedder, bundle, matcher)
    report: dict[str, object] = {
        "benchmark": "identify (finder → embed → match)",
        "machine": machine(),
        "model": {"name": embedder.sidecar.name, "sha256": embedder.sidecar.sha256[:16], "dim": embedder.dim},
        "backend": embedder.description,
        "backend_live_scanner": live.description,
        "bundle": {
            "path": str(args.bundle),
            "cards": bundle.manifest.card_count,
            "vectors": bundle.manifest.vector_count,
        },
        "thresholds": matcher.thresholds.__dict__,
        "stages": stage_speed(embedder, live, matcher),
        "search_at_scale": search_at_scale(embedder.dim),
        "simulated": simulated_accuracy(identifier, bundle, args.captures),
    }
    if not args.skip_ebay:
        report["ebay_real_photos"] = ebay(identifier)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
