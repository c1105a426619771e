"""What storing reference vectors compactly costs in answers: the shipped bundle's real vectors as
float32 (as shipped), float16 and int8 with a per-row scale (``app.match.vectors``, how installed
sets are stored), searched with the real pictures of the real model.

    python bench/compact_vectors.py [--views 2] [--limit-photos N]

Prints one JSON object and writes bench/results/compact_vectors.json. Queries: every catalogue
scan (bench/common.CATALOG) seen as ``--views`` camera-like variants (``app.catalog.build``'s
``reference_views`` with seeds the bundle's own views never use), and the shared eBay photos
(real photos: fronts of cards that are not in the catalogue, and card backs) cropped by the card
finder as the app crops them. For each stored form: top-1 agreement with float32, agreement of the
picture's decision (status and card, ``Matcher.decide``), and how far the best similarity moves.
The form ``i8_through_card_graph`` is int8 searched as installed sets are at catalogue scale:
through the graph over cards (``app.match.card_graph``: each card's mean view, projected) whose
proposed cards' rows are re-scored, against float32 searched exactly.

``at_catalogue_scale`` asks the same of a catalogue of ~20,000 cards, the size where the graph's
projection and its few proposals could miss the right card: the shipped real vectors plus
``--distractors`` cards drawn from the real cards' own spread (a Gaussian with the mean and
covariance of the real card means), each with ``views_per_card`` views made by adding a real
view's offset from its card's mean. Real queries; int8 through the card graph against float32
searched exactly over the same rows.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
import tempfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.catalog.build import canonical_card_image, reference_views
from app.config import load_settings
from app.engine import make_embedder, make_finder, thresholds_from
from app.imageio import read_image_bgr
from app.match.bundle import ReferenceBundle
from app.match.card_graph import GRAPH_KIND, card_means, card_numbers
from app.match.matcher import CARDS_BEYOND_K, Matcher
from app.match.vectors import QuantizedRows, quantize_rows
from bench.common import CATALOG, EBAY, REPO, machine

SHIPPED = REPO / "reference" / "default"
RESULTS = REPO / "bench" / "results" / "compact_vectors.json"
#: Seeds for the query views, far from the crc32-of-card-id seeds the bundle's views use.
QUERY_SEED = 2_000_000_000


def stored_forms(bundle: ReferenceBundle, graph_folder: Path) -> dict[str, tuple[ReferenceBundle, int]]:
    """Each form with the matcher's ``exact_below`` it is searched with."""
    dense = bundle.dense_embeddings()
    half = dense.astype(np.float16).astype(np.float32)
    half /= np.linalg.norm(half, axis=1, keepdims=True)
    codes, scales = quantize_rows(dense)

    def like(rows: Any) -> ReferenceBundle:
        return ReferenceBundle(bundle.manifest, rows, bundle.row_card_ids, bundle.metadata, bundle.path)

    exact = len(bundle.row_card_ids) + 1
    return {
        "f16": (like(half), exact),
        "i8_per_row_scale": (like(QuantizedRows(codes, scales)), exact),
        "i8_through_card_graph": (through_card_graph(bundle, graph_folder), 0),
    }


def with_distractors(bundle: ReferenceBundle, count: int, seed: int = 1) -> ReferenceBundle:
    """``bundle`` plus ``count`` made-up cards spread as its real cards are (see the module's doc)."""
    dense = bundle.dense_embeddings()
    names, row_cards = card_numbers(bundle.row_card_ids)
    means = card_means(dense, row_cards, len(names))
    rng = np.random.default_rng(seed)
    centred = means - means.mean(axis=0)
    cards = means.mean(axis=0) + rng.normal(size=(count, len(means))) @ centred / np.sqrt(len(means))
    cards /= np.linalg.norm(cards, axis=1, keepdims=True)
    views = bundle.manifest.views_per_card
    offsets = dense - means[row_cards]
    rows = np.repeat(cards, views, axis=0) + offsets[rng.integers(0, len(offsets), count * views)]
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    ids = [f"distractor-{i}" for i in range(count)]
    metadata = dict(bundle.metadata)
    metadata.update({c: {"card_id": c, "name": c, "set_id": "distractor", "number": c} for c in ids})
    row_ids = [*bundle.row_card_ids, *(c for c in ids for _ in range(views))]
    return ReferenceBundle(bundle.manifest, np.vstack([dense, rows]).astype(np.float32), row_ids, metadata, bundle.path)


def through_card_graph(bundle: ReferenceBundle, graph_folder: Path) -> ReferenceBundle:
    """``bundle``'s rows as int8, searched through a graph over cards cached in ``graph_folder``."""
    codes, scales = quantize_rows(bundle.dense_embeddings())
    compact = ReferenceBundle(bundle.manifest, QuantizedRows(codes, scales), bundle.row_card_ids, bundle.metadata)
    compact.index_cache = graph_folder / f"card-graph-{len(bundle.row_card_ids)}.usearch"
    return compact


def scan_queries(embedder: Any, bundle: ReferenceBundle, views: int) -> np.ndarray:
    out = []
    for card_id in bundle.card_ids():
        set_id = bundle.metadata[card_id]["set_id"]
        scan = canonical_card_image(CATALOG / "images" / str(set_id) / f"{card_id}.jpg")
        seed = QUERY_SEED + zlib.crc32(card_id.encode()) % 1_000_000
        out.append(embedder.embed(reference_views(scan, views + 1, seed)[1:]))
    return np.vstack(out)


def photo_queries(embedder: Any, finder: Any, limit: int | None) -> dict[str, np.ndarray]:
    with open(EBAY / "labels.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    by_side: dict[str, list[np.ndarray]] = {"front": [], "back": []}
    for side in by_side:
        picked = [r for r in rows if r["side"] == side][:limit]
        for row in picked:
            finder.reset()
            found = finder.find_cards(read_image_bgr(EBAY / "images" / row["file"]))
            if found:
                best = max(found, key=lambda f: f.quad.area_frac)
                by_side[side].append(embedder.embed([best.warped.image])[0])
    return {side: np.asarray(vectors, np.float32).reshape(-1, embedder.dim) for side, vectors in by_side.items()}


def compare(base: Matcher, other: Matcher, queries: np.ndarray) -> dict[str, Any]:
    hits_base, hits_other = base.search(queries, 5), other.search(queries, 5)
    same_top1 = [a[0][0] == b[0][0] for a, b in zip(hits_base, hits_other, strict=True)]
    decisions = [(base.decide(a), other.decide(b)) for a, b in zip(hits_base, hits_other, strict=True)]
    shift = [abs(a[0][1] - b[0][1]) for a, b in zip(hits_base, hits_other, strict=True)]
    changed = [
        {"f32": f"{x.status} {x.card_id}", "compact": f"{y.status} {y.card_id}"}
        for x, y in decisions
        if (x.status, x.card_id) != (y.status, y.card_id)
    ]
    return {
        "queries": len(queries),
        "top1_same_as_f32": round(float(np.mean(same_top1)), 4),
        "decision_same_as_f32": round(1 - len(changed) / max(1, len(queries)), 4),
        "decisions_changed": changed[:10],
        "best_similarity_shift": {"mean": round(float(np.mean(shift)), 6), "max": round(float(np.max(shift)), 6)},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--views", type=int, default=2, help="camera-like views per catalogue scan")
    parser.add_argument("--limit-photos", type=int, default=None, help="eBay photos per side (default: all)")
    parser.add_argument("--distractors", type=int, default=20_000, help="cards added for at_catalogue_scale")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    settings = load_settings()
    embedder = make_embedder(settings, live=False)
    bundle = ReferenceBundle.load(SHIPPED, embedder.model_sha256, embedder.dim)
    thresholds = thresholds_from(settings)
    base = Matcher(bundle, thresholds)
    queries = {"catalogue_scans_camera_like": scan_queries(embedder, bundle, args.views)}
    photos = photo_queries(embedder, make_finder(settings), args.limit_photos)
    queries["ebay_fronts_not_in_catalogue"] = photos["front"]
    queries["ebay_backs"] = photos["back"]
    graph_folder = Path(tempfile.mkdtemp(prefix="cardsight-card-graph-"))
    forms = stored_forms(bundle, graph_folder)
    disk = {"f32": 4 * embedder.dim, "f16": 2 * embedder.dim, "i8_per_row_scale": embedder.dim + 4}
    result = {
        "benchmark": "compact_vectors",
        "machine": machine(),
        "data": {
            "references": f"{SHIPPED.relative_to(REPO)}: {len(bundle.row_card_ids)} real vectors of "
            f"{bundle.manifest.card_count} cards ({bundle.manifest.model_name})",
            "catalogue_scans": f"{CATALOG}: {args.views} camera-like views of each scan",
            "ebay_photos": f"{EBAY}: cards found by the card finder in real photos",
        },
        "bytes_per_vector": disk,
        "forms": {
            name: {kind: compare(base, Matcher(form, thresholds, exact_below), q) for kind, q in queries.items()}
            for name, (form, exact_below) in forms.items()
        },
    }
    large = with_distractors(bundle, args.distractors)
    exact_large = Matcher(large, thresholds, exact_below=len(large.row_card_ids) + 1)
    graph_large = Matcher(through_card_graph(large, graph_folder), thresholds, exact_below=0)
    result["at_catalogue_scale"] = {
        "cards": len(set(large.row_card_ids)),
        "vectors": len(large.row_card_ids),
        "graph": f"{GRAPH_KIND}, {CARDS_BEYOND_K} cards proposed beyond the k asked for",
        "i8_through_card_graph": {kind: compare(exact_large, graph_large, q) for kind, q in queries.items()},
    }
    shutil.rmtree(graph_folder, ignore_errors=True)
    text = json.dumps(result, indent=2)
    print(text)
    if not args.no_write:
        RESULTS.write_text(text + "\n")
    embedder.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
