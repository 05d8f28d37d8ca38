"""Load benchmark (issue 12): 20 concurrent shopper sessions search and chat while a
merchant ingests a new version of the catalog and another upload is hostile.

    python evals/bench_load.py [--products 2000] [--seconds 60] [--out FILE]

Shoppers are threads of one process, as Streamlit sessions are: 18 search and chat with
the extractive answer, 2 chat with the local model (SmolLM2-135M: the only bundled model
fast enough to take part on 2 cores; larger models queue on the same lock). The catalog is
the first N demo products; the merchant's new version is the same products with a
version tag in every title, so each response can be checked to come from one version
only. The hostile upload (a gzip bomb: 10 MiB of rows in ~10 KiB) goes through the same
isolated check as the upload page. Reports failed requests (target 0), p50/p95 latency idle
and under load, and whether any response mixed versions. Figures, never pass/fail on time.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from dona.catalog.isolated import parse_isolated  # noqa: E402
from dona.chat import ChatEngine, Conversation  # noqa: E402
from dona.config import Settings  # noqa: E402
from dona.errors import DonaError  # noqa: E402
from dona.service import Dona  # noqa: E402

CATALOG = REPO / "catalog" / "chorus_icecat" / "products.jsonl.gz"
QUERIES = [
    line.split("\t")[1].strip()
    for line in (REPO / "evals/datasets/chorus_icecat/queries_dev.tsv").read_text().splitlines()[1:]
]
SPANISH = [
    line.split("\t")[1].strip()
    for line in (REPO / "evals/datasets/chorus_icecat/queries_dev_es.tsv")
    .read_text()
    .splitlines()[1:]
]
QUESTIONS = [
    "a bluetooth speaker under 50 dollars?",
    "¿tenés auriculares inalámbricos baratos?",
    "cheapest usb cable",
    "impresora láser",
]


def demo_items(n: int) -> list[dict]:
    items = []
    with gzip.open(CATALOG, "rt", encoding="utf-8") as fh:
        for line in fh:
            items.append(json.loads(line))
            if len(items) == n:
                break
    return items


def jsonl(items: list[dict], tag: str) -> bytes:
    return "".join(json.dumps({**i, "title": f"{i['title']} {tag}"}) + "\n" for i in items).encode()


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


class Shopper(threading.Thread):
    def __init__(self, number: int, dona: Dona, chat: ChatEngine, clock: dict, log: dict):
        super().__init__(daemon=True)
        self.number, self.dona, self.chat, self.clock, self.log = number, dona, chat, clock, log

    def run(self) -> None:
        rng = np.random.default_rng(self.number)
        conversation = Conversation()
        while time.perf_counter() < self.clock["until"]:
            kind = "chat" if rng.random() < 0.2 else "search"
            query = str(rng.choice(SPANISH if rng.random() < 0.3 else QUERIES))
            t0 = time.perf_counter()
            try:
                if kind == "search":
                    response = self.dona.search(query, k=10)
                    tags = {r.product.title.rsplit(" ", 1)[-1] for r in response.results}
                    version = response.version
                else:
                    answer = self.chat.ask(str(rng.choice(QUESTIONS)), conversation)
                    tags = {p.title.rsplit(" ", 1)[-1] for p in answer.products}
                    version = None
                    if len(conversation.turns) > 4:
                        conversation = Conversation()
                elapsed = (time.perf_counter() - t0) * 1000
                self.log["latency"].setdefault(kind, []).append(elapsed)
                if len(tags) > 1:
                    self.log["mixed"] += 1
                if version is not None and tags and tags != {f"[v{version}]"}:
                    self.log["mislabelled"] += 1
                self.log["seen_versions"].update(tags)
            except Exception as exc:  # noqa: BLE001 - every failure is the figure
                self.log["failed"].append(f"{kind}: {type(exc).__name__}: {str(exc)[:120]}")


def run_shoppers(dona: Dona, engines: list[ChatEngine], seconds: float) -> dict:
    log = {"latency": {}, "failed": [], "mixed": 0, "mislabelled": 0, "seen_versions": set()}
    clock = {"until": time.perf_counter() + seconds}
    threads = [Shopper(i, dona, engines[i], clock, log) for i in range(len(engines))]
    for thread in threads:
        thread.start()
    return {"threads": threads, "log": log, "clock": clock}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--shoppers", type=int, default=20)
    parser.add_argument("--out", type=Path, help="append the report section to this file")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="dona-load-") as tmp:
        settings = Settings(data_dir=Path(tmp), llm_model="smollm2-135m")
        dona = Dona(settings)
        items = demo_items(args.products)
        dona.ingest_bytes(jsonl(items, "[v1]"), filename="shop.jsonl", prices_in_minor_units=True)
        engines = [
            ChatEngine(dona, backend="llamacpp" if i < 2 else "extractive")
            for i in range(args.shoppers)
        ]
        for engine in engines[:2]:
            engine.ask("warm up")  # the model loads once, before the clock

        idle = run_shoppers(dona, engines, args.seconds / 2)
        for thread in idle["threads"]:
            thread.join()

        started = time.perf_counter()
        busy = run_shoppers(dona, engines, 24 * 3600)  # until the ingest is done, below
        ingest = {}
        t0 = time.perf_counter()
        report = dona.ingest_bytes(
            jsonl(items, "[v2]"), filename="shop.jsonl", prices_in_minor_units=True
        )
        ingest["seconds"] = time.perf_counter() - t0
        ingest["version"] = report.version
        bomb = gzip.compress(b"id,title,price\n" + b"x,y,1\n" * (10 * 1024 * 1024 // 6), 9)
        t0 = time.perf_counter()
        try:
            parse_isolated(bomb, "bomb.csv.gz")
            hostile = "accepted"
        except DonaError as exc:
            hostile = f"refused: {str(exc)[:100]}"
        hostile_s = time.perf_counter() - t0
        # shoppers keep going past the switch, so responses from both versions are checked
        busy["clock"]["until"] = max(started + args.seconds, time.perf_counter() + 15)
        for thread in busy["threads"]:
            thread.join()
        dona.close()

    lines = ["## Load", ""]
    lines.append(
        f"{args.shoppers} shopper threads ({args.shoppers - 2} extractive, 2 with "
        f"SmolLM2-135M), {args.products} products, {os.cpu_count()} CPUs "
        f"({platform.machine()}); idle {args.seconds / 2:.0f} s, then at least "
        f"{args.seconds:.0f} s and 15 s past the switch, while the merchant ingests version "
        f"{ingest['version']} "
        f"({ingest['seconds']:.1f} s) and a {len(bomb) // 1024} KiB gzip bomb is "
        f"uploaded ({hostile}, {hostile_s:.2f} s)."
    )
    lines += [
        "",
        "| phase | kind | requests | failed | p50 ms | p95 ms |",
        "|---|---|---|---|---|---|",
    ]
    for label, run in (("idle", idle), ("ingest + hostile upload", busy)):
        log = run["log"]
        for kind in ("search", "chat"):
            values = log["latency"].get(kind, [])
            failed = sum(1 for f in log["failed"] if f.startswith(kind))
            lines.append(
                f"| {label} | {kind} | {len(values)} | {failed} | {percentile(values, 50):.0f} "
                f"| {percentile(values, 95):.0f} |"
            )
    log = busy["log"]
    idle_p95 = percentile(idle["log"]["latency"].get("search", []), 95)
    busy_p95 = percentile(log["latency"].get("search", []), 95)
    lines += [
        "",
        f"Search p95 under load is {busy_p95 / idle_p95:.1f}x the idle p95. Responses that "
        f"mixed versions: {log['mixed']}; search responses whose products were not all of "
        f"the version they named: {log['mislabelled']}; versions seen: "
        f"{', '.join(sorted(log['seen_versions']))}. Failed requests: "
        f"{len(log['failed']) + len(idle['log']['failed'])}"
        + (
            f" (first: {(log['failed'] or idle['log']['failed'])[0]})"
            if log["failed"] or idle["log"]["failed"]
            else ""
        )
        + ".",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.out:
        existing = args.out.read_text() if args.out.exists() else ""
        if "\n## Load\n" in existing:
            existing = existing[: existing.index("\n## Load\n") + 1]
        args.out.write_text(existing.rstrip() + "\n\n" + text)


if __name__ == "__main__":
    main()
