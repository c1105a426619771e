"""Reference data at catalogue scale: load time, added memory, search time and disk size with
20,000 installed cards (4 vectors each) in ~170 per-set shards, next to the shipped bundle.

    python bench/catalog_scale.py [--cards 20000] [--views 4] [--shards 170] [--queries 1000]

Prints one JSON object and writes bench/results/catalog_scale.json. Data: the shipped bundle
(reference/default, real vectors) plus synthetic 768-d unit vectors written as int8 shards the way
``app.catalog.install`` writes an installed set (no thumbnails: their size is reported from the
shipped bundle's). Each card's views and each query are its random base vector plus noise; a
query's right answer is the card it was made from. The shards and the combined graph are written
in one process; load, memory and search are measured in a fresh one (``--measure``), with the
files in the page cache (a warm start; the first start after a reboot reads them from disk).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import REPO, machine, timed

SHIPPED = REPO / "reference" / "default"
RESULTS = REPO / "bench" / "results" / "catalog_scale.json"
#: The issue's bars.
BARS = {"load_s": 1.5, "added_rss_mb": 150.0, "search_ms_per_query": 0.5, "disk_mb": 80.0}
#: Cosine of a card's stored views and of a query to the card's base vector.
VIEW_NOISE = 0.35
QUERY_NOISE = 0.5


def noisy(base: np.ndarray, scale: float, rng: np.random.Generator) -> np.ndarray:
    out = base + rng.normal(scale=scale / np.sqrt(base.shape[-1]), size=base.shape).astype(np.float32)
    return (out / np.linalg.norm(out, axis=-1, keepdims=True)).astype(np.float32)


def write_shards(sets_dir: Path, cards: int, views: int, shards: int, seed: int = 7) -> dict[str, Any]:
    from app.match.bundle import INSTALLED_SET, BundleManifest, BundleSet, ReferenceBundle, read_manifest

    shipped = read_manifest(SHIPPED)
    rng = np.random.default_rng(seed)
    dim = shipped.dim
    bases = rng.normal(size=(cards, dim)).astype(np.float32)
    bases /= np.linalg.norm(bases, axis=1, keepdims=True)
    names: list[str] = []
    for number, chunk in enumerate(np.array_split(np.arange(cards), shards)):
        set_id = f"syn{number:03d}"
        card_ids = [f"{set_id}-{i}" for i in chunk]
        names.extend(card_ids)
        vectors = noisy(np.repeat(bases[chunk], views, axis=0), VIEW_NOISE, rng)
        manifest = BundleManifest(
            model_name=shipped.model_name,
            model_sha256=shipped.model_sha256,
            dim=dim,
            preprocessing=shipped.preprocessing,
            dtype="i8",
            card_count=len(chunk),
            vector_count=len(vectors),
            sets=[BundleSet(id=set_id, name=f"Synthetic {number}", cards=len(chunk))],
            build_time=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            catalog=f"{INSTALLED_SET}{set_id}",
            views_per_card=views,
        )
        metadata = {
            card_id: {"card_id": card_id, "name": f"Card {i}", "set_id": set_id, "number": str(i)}
            for card_id, i in zip(card_ids, chunk, strict=True)
        }
        rows = [card_id for card_id in card_ids for _ in range(views)]
        ReferenceBundle(manifest, vectors, rows, metadata).save(sets_dir / set_id, with_index=False)
    return {"bases": bases, "card_ids": names}


def prepare(work: Path, args: argparse.Namespace) -> dict[str, Any]:
    from app.match.shards import load_reference

    sets_dir = work / "sets"
    started = time.perf_counter()
    data = write_shards(sets_dir, args.cards, args.views, args.shards)
    written_s = time.perf_counter() - started
    rng = np.random.default_rng(11)
    picked = rng.choice(args.cards, args.queries, replace=False)
    queries = noisy(data["bases"][picked], QUERY_NOISE, rng)
    np.save(work / "queries.npy", queries)
    (work / "truth.json").write_text(json.dumps([data["card_ids"][i] for i in picked]))
    started = time.perf_counter()
    bundle = load_reference(SHIPPED, sets_dir)
    _ = bundle.index
    graph_s = time.perf_counter() - started
    # The f32 baseline: the same query against every stored row decoded, best card by exact product.
    dense = bundle.dense_embeddings()
    best_rows = np.argmax(queries @ dense.T, axis=1)
    exact_top1 = [bundle.row_card_ids[r] for r in best_rows]
    del dense
    (work / "exact_top1.json").write_text(json.dumps(exact_top1))
    shards_bytes = sum(p.stat().st_size for p in sets_dir.rglob("*") if p.is_file())
    vector_bytes = sum(p.stat().st_size for p in sets_dir.rglob("*.npy"))
    graph_bytes = sum(p.stat().st_size for p in sets_dir.with_name("sets.index").glob("*"))
    shipped_bytes = sum(p.stat().st_size for p in SHIPPED.rglob("*") if p.is_file())
    thumbs = list((SHIPPED / "thumbs").glob("*.jpg"))
    thumb_mean = sum(p.stat().st_size for p in thumbs) / max(1, len(thumbs))
    return {
        "write_shards_s": round(written_s, 2),
        "graph_build_s": round(graph_s, 2),
        "graph_build_load_average_1min": round(os.getloadavg()[0], 2),
        "disk_mb": {
            "installed_shards": round(shards_bytes / 1e6, 1),
            "of_which_vectors_and_scales": round(vector_bytes / 1e6, 1),
            "combined_graph_cache": round(graph_bytes / 1e6, 1),
            "shipped_bundle": round(shipped_bytes / 1e6, 1),
            "shards_plus_graph": round((shards_bytes + graph_bytes) / 1e6, 1),
            "thumbnails_not_included_mean_kb_per_card": round(thumb_mean / 1e3, 1),
        },
    }


def rss_mb() -> dict[str, float]:
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
            fields[key] = round(int(value.split()[0]) / 1024, 1)
    return fields


def measure(work: Path) -> dict[str, Any]:
    """In a fresh process: what loading and searching cost the app."""
    from app.match.matcher import CARDS_BEYOND_K, Matcher
    from app.match.shards import load_reference

    queries = np.load(work / "queries.npy")
    truth = json.loads((work / "truth.json").read_text())
    exact_top1 = json.loads((work / "exact_top1.json").read_text())
    before = rss_mb()
    started = time.perf_counter()
    bundle = load_reference(SHIPPED, work / "sets")
    matcher = Matcher(bundle)
    _ = bundle.index
    load_s = time.perf_counter() - started
    after_load = rss_mb()
    one_at_a_time = timed(lambda: [matcher.search(q[None], 5) for q in queries[:200]], 5) / 200
    cpu_started = time.process_time()
    for q in queries[:200]:
        matcher.search(q[None], 5)
    cpu_ms = (time.process_time() - cpu_started) / 200 * 1000
    # The graph's share: the same number of candidates the matcher asks it for, without re-scoring.
    candidates = 5 + CARDS_BEYOND_K if bundle.graph_over_cards else 2 * (5 * bundle.manifest.views_per_card + 2)
    cpu_started = time.process_time()
    for q in queries[:200]:
        bundle.index.search(q[None], candidates, threads=1)
    graph_cpu_ms = (time.process_time() - cpu_started) / 200 * 1000
    top1 = [matcher.search(q[None], 5)[0][0][0] for q in queries]
    after_search = rss_mb()
    set_ids = sorted({card_id.rsplit("-", 1)[0] for card_id in bundle.card_ids() if card_id.startswith("syn")})
    return {
        "vectors": len(bundle.row_card_ids),
        "cards": bundle.manifest.card_count,
        "installed_shards": len(set_ids),
        "mode": "exact"
        if matcher.exact
        else "hnsw-i8 graph over each card's mean view (memory-mapped) + re-score of the cards' int8 rows",
        "graph_nodes": len(bundle.index),
        "load_s": round(load_s, 3),
        "search_ms_per_query": round(one_at_a_time, 3),
        "search_cpu_ms_per_query": round(cpu_ms, 3),
        "of_which_graph_search_cpu_ms": round(graph_cpu_ms, 3),
        "rss_mb_before_load": before,
        "rss_mb_after_load": after_load,
        "rss_mb_after_searches": after_search,
        "added_rss_mb": round(after_search["VmRSS"] - before["VmRSS"], 1),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "top1_right_card": round(float(np.mean([a == b for a, b in zip(top1, truth, strict=True)])), 4),
        "top1_same_as_exact_over_all_rows": round(
            float(np.mean([a == b for a, b in zip(top1, exact_top1, strict=True)])), 4
        ),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cards", type=int, default=20_000)
    parser.add_argument("--views", type=int, default=4)
    parser.add_argument("--shards", type=int, default=170)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--no-write", action="store_true", help="print only, keep bench/results as it is")
    parser.add_argument(
        "--keep", type=Path, help="work folder kept afterwards; one prepared by an earlier run is measured again"
    )
    args = parser.parse_args()
    if args.measure is not None:
        print(json.dumps(measure(args.measure)))
        return 0
    work = args.keep or Path(tempfile.mkdtemp(prefix="cardsight-catalog-scale-"))
    prepared = work / "prepared.json"
    try:
        if prepared.is_file():
            built = json.loads(prepared.read_text())
        else:
            work.mkdir(parents=True, exist_ok=True)
            built = prepare(work, args)
            prepared.write_text(json.dumps(built))
        runs = []
        for _ in range(3):
            command = [sys.executable, __file__, "--measure", str(work)]
            runs.append(json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout))
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    best = min(runs, key=lambda run: run["load_s"])
    result = {
        "benchmark": "catalog_scale",
        "machine": machine(),
        "data": {
            "shipped": f"{SHIPPED.relative_to(REPO)} (real vectors)",
            "installed": f"{args.cards} synthetic cards × {args.views} views, 768-d, in {args.shards} int8 shards",
            "queries": f"{args.queries} synthetic: a card's base vector plus noise",
        },
        "bars": BARS,
        **built,
        "load_s_per_run": [run["load_s"] for run in runs],
        "search_ms_per_query_per_run": [run["search_ms_per_query"] for run in runs],
        "search_cpu_ms_per_query_per_run": [run["search_cpu_ms_per_query"] for run in runs],
        "load_average_1min_per_run": [run["load_average_1min"] for run in runs],
        "added_rss_mb_per_run": [run["added_rss_mb"] for run in runs],
        "measured": best,
        "meets_rule": "load and added RSS: the worst of the runs; search: the best (the machine is shared, "
        "see load_average_1min_per_run); disk: the installed shards alone, and with the graph cache",
        "meets": {
            "load_s": max(run["load_s"] for run in runs) <= BARS["load_s"],
            "added_rss_mb": max(run["added_rss_mb"] for run in runs) <= BARS["added_rss_mb"],
            "search_ms_per_query": min(run["search_ms_per_query"] for run in runs) <= BARS["search_ms_per_query"],
            "search_cpu_ms_per_query": min(run["search_cpu_ms_per_query"] for run in runs)
            <= BARS["search_ms_per_query"],
            "disk_mb_installed_shards": built["disk_mb"]["installed_shards"] <= BARS["disk_mb"],
            "disk_mb_shards_plus_graph": built["disk_mb"]["shards_plus_graph"] <= BARS["disk_mb"],
        },
    }
    text = json.dumps(result, indent=2)
    print(text)
    if not args.no_write:
        RESULTS.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
