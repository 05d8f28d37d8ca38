"""Benchmark: ingest of the full demo catalog (parse / store / embed / index, the language
bridge included), unchanged re-ingest, query latency split into language bridge / query
embedding / dense / BM25 / fusion for English and Spanish queries, and the retrieval
quality of each mode on the dev split in both languages, with and without the bridge.

    python evals/bench_search.py [--out evals/reports/bench_search.md]

Runs in a throwaway data directory; prints a Markdown report (and writes it with --out).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from dona.config import Settings  # noqa: E402
from dona.eval.metrics import evaluate, load_labelled_queries  # noqa: E402
from dona.index.bridge import BridgedQuery  # noqa: E402
from dona.search import Filters  # noqa: E402
from dona.service import Dona  # noqa: E402
from dona.service.serving import rank as serving_rank  # noqa: E402

CATALOG = REPO / "catalog" / "chorus_icecat" / "products.jsonl.gz"
DATASET = REPO / "evals" / "datasets" / "chorus_icecat"


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--embedder", default=None, help="override DONA_EMBEDDER")
    parser.add_argument("--rounds", type=int, default=3, help="query passes after warm-up")
    args = parser.parse_args()

    lines: list[str] = []

    def say(line: str = "") -> None:
        print(line, flush=True)
        lines.append(line)

    with tempfile.TemporaryDirectory(prefix="dona-bench-") as tmp:
        overrides = {"data_dir": Path(tmp)}
        if args.embedder:
            overrides["embedder"] = args.embedder
        settings = Settings(**overrides)
        dona = Dona(settings)
        data = CATALOG.read_bytes()

        t0 = time.perf_counter()
        dona.embedder.embed_query("warm up")  # model load is start-up, not ingest
        load_s = time.perf_counter() - t0

        first = dona.ingest_bytes(data, filename=CATALOG.name, prices_in_minor_units=True)
        again = dona.ingest_bytes(data, filename=CATALOG.name, prices_in_minor_units=True)

        dataset = load_labelled_queries(DATASET / "queries_dev.tsv", DATASET / "labels_dev.tsv")
        spanish = load_labelled_queries(DATASET / "queries_dev_es.tsv", DATASET / "labels_dev.tsv")
        queries = list(dataset.queries.values())
        served = dona.served()
        for q in queries[:10]:
            dona.rank(served, q, 10, Filters(), "hybrid")
        stages: dict[str, list[float]] = {}
        totals: list[float] = []
        for _ in range(args.rounds):
            for q in queries:
                t0 = time.perf_counter()
                _, timings = dona.rank(served, q, 10, Filters(), "hybrid")
                totals.append((time.perf_counter() - t0) * 1000)
                for stage, ms in timings.items():
                    stages.setdefault(stage, []).append(ms)
        spanish_stages: dict[str, list[float]] = {}
        spanish_totals: list[float] = []
        for _ in range(args.rounds):
            for q in spanish.queries.values():
                t0 = time.perf_counter()
                _, timings = dona.rank(served, q, 10, Filters(), "hybrid")
                spanish_totals.append((time.perf_counter() - t0) * 1000)
                for stage, ms in timings.items():
                    spanish_stages.setdefault(stage, []).append(ms)
        full: list[float] = []
        for q in queries:
            t0 = time.perf_counter()
            dona.search(q, k=10)
            full.append((time.perf_counter() - t0) * 1000)
        filtered: list[float] = []
        for q in queries:
            t0 = time.perf_counter()
            dona.search(q, k=10, filters=Filters(max_price=100.0))
            filtered.append((time.perf_counter() - t0) * 1000)

        ids = served.facets["product_id"]
        quality = {}
        for language, queries_of, bridge in (
            ("English", dataset, True),
            ("Spanish", spanish, True),
            ("Spanish, no bridge", spanish, False),
        ):
            for mode in ("lexical", "dense", "hybrid"):

                def rank(query: str, mode=mode, bridge=bridge) -> list[str]:
                    as_typed = None if bridge else BridgedQuery(query, query)
                    hits, _ = serving_rank(
                        served, query, 100, Filters(), mode, dona.embedder, settings, as_typed
                    )
                    return [ids[h.position] for h in hits]

                quality[(language, mode)] = evaluate(queries_of, rank)

        say("# Search benchmark: full demo catalog")
        say()
        say(
            f"Machine: {os.cpu_count()} CPUs, {platform.machine()}, Python "
            f"{platform.python_version()}; embedder `{dona.embedder.model_id}`; "
            f"fusion RRF k={settings.rrf_k}, BM25 weight {settings.bm25_weight}."
        )
        say()
        say("## Ingest")
        say()
        say("| run | products | parse s | store s | embed s | index s | total s | products/s |")
        say("|---|---|---|---|---|---|---|---|")
        for label, r in (("first ingest", first), ("unchanged re-ingest", again)):
            t = r.timings
            say(
                f"| {label} | {r.products} | {t['parse']:.1f} | {t['store']:.1f} | "
                f"{t['embed']:.1f} | {t['index']:.1f} | {r.seconds:.1f} | "
                f"{r.products / r.seconds:.0f} |"
            )
        say()
        say(
            f"Model load (once per process, not counted above): {load_s:.1f} s. "
            f"Re-ingest embedded {again.embedded} texts ({again.cached} from the cache)."
        )
        say()
        say(f"## Query latency ({len(queries)} dev queries x {args.rounds}, after warm-up)")
        say()
        say("| stage | English p50 ms | English p95 ms | Spanish p50 ms | Spanish p95 ms |")
        say("|---|---|---|---|---|")
        for stage in ("bridge", "embed", "dense", "bm25", "fusion"):
            en, es = stages.get(stage, [0.0]), spanish_stages.get(stage, [0.0])
            say(
                f"| {stage} | {percentile(en, 50):.2f} | {percentile(en, 95):.2f} | "
                f"{percentile(es, 50):.2f} | {percentile(es, 95):.2f} |"
            )
        say(
            f"| hybrid ranking total | {percentile(totals, 50):.2f} | {percentile(totals, 95):.2f} "
            f"| {percentile(spanish_totals, 50):.2f} | {percentile(spanish_totals, 95):.2f} |"
        )
        say(
            f"| search() incl. product rows | {percentile(full, 50):.2f} | {percentile(full, 95):.2f} |"
        )
        say(
            f"| search() with max_price=100 | {percentile(filtered, 50):.2f} | "
            f"{percentile(filtered, 95):.2f} |"
        )
        say()
        judged = quality[("English", "hybrid")]["queries"]
        say(
            f"## Quality on the dev split ({judged} judged queries, the same ids in both languages)"
        )
        say()
        say("| queries | mode | nDCG@10 | Recall@10 | Recall@100 | MRR@10 |")
        say("|---|---|---|---|---|---|")
        for (language, mode), m in quality.items():
            say(
                f"| {language} | {mode} | {m['ndcg@10']:.4f} | {m['recall@10']:.3f} | "
                f"{m['recall@100']:.3f} | {m['mrr@10']:.3f} |"
            )
        ratio = (
            quality[("Spanish", "hybrid")]["ndcg@10"] / quality[("English", "hybrid")]["ndcg@10"]
        )
        say()
        say(f"Spanish hybrid nDCG@10 is {ratio:.0%} of English.")
        dona.close()

    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
