"""Benchmark: ingest of the full demo catalog (parse / store / embed / index), unchanged
re-ingest, query latency split into query embedding / dense / BM25 / fusion, and the
retrieval quality of each mode on the dev split (a check that speed-ups cost nothing).

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
from dona.search import Filters  # noqa: E402
from dona.service import Dona  # noqa: E402

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
        for mode in ("lexical", "dense", "hybrid"):

            def rank(query: str, mode=mode) -> list[str]:
                hits, _ = dona.rank(served, query, 100, Filters(), mode)
                return [ids[h.position] for h in hits]

            quality[mode] = evaluate(dataset, rank)

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
        say("| stage | p50 ms | p95 ms |")
        say("|---|---|---|")
        for stage in ("embed", "dense", "bm25", "fusion"):
            say(
                f"| {stage} | {percentile(stages[stage], 50):.2f} | {percentile(stages[stage], 95):.2f} |"
            )
        say(
            f"| hybrid ranking total | {percentile(totals, 50):.2f} | {percentile(totals, 95):.2f} |"
        )
        say(
            f"| search() incl. product rows | {percentile(full, 50):.2f} | {percentile(full, 95):.2f} |"
        )
        say(
            f"| search() with max_price=100 | {percentile(filtered, 50):.2f} | "
            f"{percentile(filtered, 95):.2f} |"
        )
        say()
        say(f"## Quality on the dev split ({quality['hybrid']['queries']} judged queries)")
        say()
        say("| mode | nDCG@10 | Recall@10 | Recall@100 | MRR@10 |")
        say("|---|---|---|---|---|")
        for mode, m in quality.items():
            say(
                f"| {mode} | {m['ndcg@10']:.4f} | {m['recall@10']:.3f} | "
                f"{m['recall@100']:.3f} | {m['mrr@10']:.3f} |"
            )
        dona.close()

    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
