"""Scale benchmark: every index phase on N synthetic vectors shaped like real embeddings.

The vectors are perturbed real product embeddings: each is a real demo-catalog vector
plus Gaussian noise in its principal-component basis (noise per component proportional
to that component's spread), re-normalised. So they keep the real spectrum and
clustering, unlike uniform noise. Queries are fresh perturbations, so they sit near, but
not on, catalog vectors, as real queries do.

For each phase: build time, hot RAM and disk bytes (measured from the index objects and
the files), p50/p95 search latency (k=10, one thread) and recall@10 against exact
float32 search. The measured figures are kept as data (`X.json` next to `--out X.md`)
and the Markdown is rendered from them, including "Where one machine stops": for this
machine's RAM and CPUs, the largest catalog each phase can hold and serve, extrapolated
from the measurements.

    python evals/bench_scale.py --vectors PATH_TO_real.npy [--n 1000000] [--out evals/reports/bench_scale.md]
    python evals/bench_scale.py --render-only evals/reports/bench_scale.json --out evals/reports/bench_scale.md

`--vectors` is a float32 .npy of real embeddings, e.g. `vectors.f32.npy` of an ingested
demo catalog version (DONA_DATA_DIR/indexes/demo/vNNNNN/).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SCHEMA = 1
K = 10


def synthesise(real: np.ndarray, n: int, noise: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mean = real.mean(axis=0)
    _, spread, basis = np.linalg.svd(real - mean, full_matrices=False)
    scale = spread / np.sqrt(len(real)) * noise  # per-component standard deviation
    out = np.empty((n, real.shape[1]), dtype=np.float32)
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        base = real[rng.integers(0, len(real), m)]
        jitter = (rng.standard_normal((m, len(scale))) * scale) @ basis
        block = base + jitter.astype(np.float32)
        out[start : start + m] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def exact_top(vectors: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    tops = []
    for start in range(0, len(queries), 16):
        scores = queries[start : start + 16] @ vectors.T
        part = np.argpartition(-scores, k, axis=1)[:, :k]
        order = np.take_along_axis(scores, part, 1).argsort(axis=1)[:, ::-1]
        tops.append(np.take_along_axis(part, order, 1))
    return np.vstack(tops)


def total_ram_bytes() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def machine_facts() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count() or 1,
        "arch": platform.machine(),
        "python": platform.python_version(),
        "ram_total_bytes": total_ram_bytes(),
    }


# --- measuring ---------------------------------------------------------------------------


def measure(args: argparse.Namespace, json_path: Path | None) -> dict[str, Any]:
    """Runs every phase; returns the data `render` takes. With `json_path`, the data is
    saved after each phase, so a long run that stops part-way keeps what it measured."""
    # imported here so that --render-only needs neither DONA's dependencies nor an index
    from dona.eval.harness import Candidate
    from dona.index.base import VECTORS, phases, read_manifest, save_vectors, write_manifest

    candidates = (
        Candidate.of("f32"),
        Candidate.of("int8"),
        Candidate.of("binary", rescore_multiplier=4),
        Candidate.of("matryoshka", dims=192, rotation="pca", whiten=0.1),
        Candidate.of("matryoshka", dims=192, rotation="pca", quantization="binary", rescore=True),
    )
    real = np.load(args.vectors).astype(np.float32)
    t0 = time.perf_counter()
    vectors = synthesise(real, args.n, args.noise, seed=1)
    queries = synthesise(real, args.queries, args.noise, seed=2)
    generate_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    truth = exact_top(vectors, queries, K)
    exact_ms = (time.perf_counter() - t0) * 1000 / len(queries)
    machine = machine_facts()
    threads = machine["cpus"]
    data: dict[str, Any] = {
        "schema": SCHEMA,
        "machine": machine,
        "n": args.n,
        "dims": int(real.shape[1]),
        "real_vectors": len(real),
        "noise": args.noise,
        "queries": args.queries,
        "k": K,
        "generate_s": generate_s,
        "build_threads": threads,
        "brute_force_ms_per_query": exact_ms,
        "peak_rss_bytes": None,
        "rows": [],
    }
    print(render_header(data), file=sys.stderr, flush=True)  # progress; the report: stdout
    with tempfile.TemporaryDirectory(prefix="dona-scale-", dir=os.environ.get("TMPDIR")) as tmp:
        base = Path(tmp)
        save_vectors(vectors, base)
        for number, candidate in enumerate(candidates):
            directory = base / f"c{number}"
            directory.mkdir()
            os.link(base / VECTORS, directory / VECTORS)
            t0 = time.perf_counter()
            part = phases.create(candidate.phase, **candidate.config_dict).build(
                vectors, directory, threads
            )
            build_s = time.perf_counter() - t0
            write_manifest(
                directory,
                {
                    "phase": candidate.phase,
                    "phase_config": part,
                    "files": [VECTORS, *part["files"]],
                },
            )
            index = phases.create(candidate.phase).load(
                directory, read_manifest(directory, {}, verify_checksums=False)
            )
            for q in queries[:10]:
                index.search(q, K)
            latencies, hits = [], 0
            for i, q in enumerate(queries):
                t0 = time.perf_counter()
                positions, _ = index.search(q, K)
                latencies.append((time.perf_counter() - t0) * 1000)
                hits += len(set(positions.tolist()) & set(truth[i].tolist()))
            config = part.get("config") or {}
            row = {
                "phase": candidate.label,
                # a usearch graph file means HNSW; otherwise a flat scan of codes in RAM
                "search": "hnsw" if any(f.endswith(".usearch") for f in part["files"]) else "flat",
                "rescore_multiplier": config.get("rescore_multiplier")
                if config.get("rescore")
                else None,
                "build_s": build_s,
                "ram_bytes_per_vector": index.ram_bytes() / args.n,
                "disk_bytes_per_vector": index.disk_bytes() / args.n,
                "p50_ms": float(np.percentile(latencies, 50)),
                "p95_ms": float(np.percentile(latencies, 95)),
                "recall_at_10": hits / (K * len(queries)),
            }
            data["rows"].append(row)
            print(table_row(row), file=sys.stderr, flush=True)
            data["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            if json_path:
                save_json(data, json_path)
            del index
    return data


def save_json(data: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")


# --- rendering ---------------------------------------------------------------------------


def render_header(data: dict[str, Any]) -> str:
    m = data["machine"]
    return "\n".join(
        [
            f"# Scale benchmark: {data['n']:,} synthetic vectors ({data['dims']}-d)",
            "",
            f"Machine: {m['cpus']} CPUs, {m['ram_total_bytes'] / 1024**3:.1f} GiB RAM, "
            f"{m['arch']}, Python {m['python']}. Vectors: {data['real_vectors']:,} real "
            "demo-catalog embeddings perturbed in their PCA basis "
            f"(noise {data['noise']} x per-component spread), generated in "
            f"{data['generate_s']:.0f} s. {data['queries']} queries; recall@10 against exact "
            f"float32 search (brute force: {data['brute_force_ms_per_query']:.0f} ms/query). "
            f"Builds use {data['build_threads']} threads; searches one query at a time.",
            "",
            "| phase | build s | hot RAM B/vec | disk B/vec | p50 ms | p95 ms | recall@10 |",
            "|---|---|---|---|---|---|---|",
        ]
    )


def table_row(row: dict[str, Any]) -> str:
    return (
        f"| {row['phase']} | {row['build_s']:.0f} | {row['ram_bytes_per_vector']:,.0f} | "
        f"{row['disk_bytes_per_vector']:,.0f} | {row['p50_ms']:.2f} | {row['p95_ms']:.2f} | "
        f"{row['recall_at_10']:.3f} |"
    )


class Model:
    """One phase's measured row scaled to n vectors: RAM and disk in proportion to n;
    HNSW build ~ n log n and p50 ~ log n; flat-scan build and p50 in proportion to n."""

    def __init__(self, row: dict[str, Any], n0: int):
        self.row, self.n0, self.hnsw = row, n0, row["search"] == "hnsw"

    def build_s(self, n: float) -> float:
        b0 = self.row["build_s"]
        if self.hnsw:
            return b0 * n * math.log(n) / (self.n0 * math.log(self.n0))
        return b0 * n / self.n0

    def p50_ms(self, n: float) -> float:
        p0 = self.row["p50_ms"]
        return p0 * math.log(n) / math.log(self.n0) if self.hnsw else p0 * n / self.n0

    def n_for_ram(self, ram_bytes: float) -> float:
        return ram_bytes / self.row["ram_bytes_per_vector"]

    def n_for_p50(self, budget_ms: float) -> float:
        p0 = self.row["p50_ms"]
        if not self.hnsw:
            return self.n0 * budget_ms / p0
        exponent = math.log(self.n0) * budget_ms / p0  # log n at which p50 reaches the budget
        return math.exp(exponent) if exponent < 700 else math.inf

    def n_for_build(self, seconds: float) -> float:
        b0 = self.row["build_s"]
        if b0 <= 0:
            return math.inf
        if not self.hnsw:
            return self.n0 * seconds / b0
        target = seconds / b0 * self.n0 * math.log(self.n0)  # solve n log n = target
        n = max(target / math.log(max(target, math.e)), 2.0)
        for _ in range(50):
            n = target / math.log(n)
        return n


def short_name(label: str) -> str:
    """`matryoshka(dims=192, quantization=binary, ...)` -> `matryoshka-192 binary`."""
    phase, _, rest = label.partition("(")
    if phase != "matryoshka":
        return phase
    config = dict(re.findall(r"(\w+)=([^,)]+)", rest))
    return f"matryoshka-{config.get('dims', '?')} {config.get('quantization', 'f32')}"


def vectors_text(n: float) -> str:
    if math.isinf(n):
        return "unbounded"
    if n >= 1e9:
        return f"{n / 1e9:.1f} billion"
    if n >= 1e8:
        return f"{n / 1e6:.0f}M"
    if n >= 1e6:
        return f"{n / 1e6:.0f}M" if n % 1_000_000 == 0 else f"{n / 1e6:.1f}M"
    return f"{n:,.0f}"


def duration_text(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def ms_text(ms: float) -> str:
    if ms >= 1000:
        return f"{ms / 1000:,.1f} s"
    return f"{ms:.2f} ms" if ms < 10 else f"{ms:.0f} ms"


def gb_text(nbytes: float) -> str:
    return f"{nbytes / 1e9:,.1f} GB" if nbytes < 1e11 else f"{nbytes / 1e9:,.0f} GB"


def render_limits(
    data: dict[str, Any], headroom: float, p50_budget_ms: float, build_budget_h: float
) -> list[str]:
    m, n0, rows = data["machine"], data["n"], data["rows"]
    cpus = m["cpus"]
    ram = m["ram_total_bytes"] * (1 - headroom)
    ram_text = f"{ram / 1024**3:.1f} GiB"
    budget = f"{p50_budget_ms:g} ms"
    models = [Model(row, n0) for row in rows]
    at_ram = [mod.n_for_ram(ram) for mod in models]
    served = [min(a, mod.n_for_p50(p50_budget_ms)) for a, mod in zip(at_ram, models, strict=True)]
    out = [
        "## Where one machine stops",
        "",
        f"This machine: {cpus} CPUs, {m['ram_total_bytes'] / 1024**3:.1f} GiB RAM, of which "
        f"{ram_text} ({1 - headroom:.0%}) is budgeted for hot index RAM, the rest left to the "
        f"OS and the app; latency budget p50 <= {budget}. Extrapolated from the "
        f"{n0:,}-vector measurements above: RAM and disk in proportion to n; HNSW build "
        "~ n log n and p50 ~ log n; flat-scan build and p50 in proportion to n (one query, "
        "one thread). Recall@10 is against exact float32 neighbours on synthetic vectors, "
        f"measured at {n0:,} only, and not extrapolated.",
        "",
        "| phase | search | vectors in RAM budget | disk at that n | build at that n "
        f"| p50 at that n | vectors within RAM and p50 <= {budget} | bound by |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for mod, n_ram, n_srv in zip(models, at_ram, served, strict=True):
        row = mod.row
        out.append(
            f"| {row['phase']} | {row['search']} | {vectors_text(n_ram)} | "
            f"{gb_text(row['disk_bytes_per_vector'] * n_ram)} | "
            f"{duration_text(mod.build_s(n_ram))} | {ms_text(mod.p50_ms(n_ram))} | "
            f"{vectors_text(n_srv)} | {'RAM' if n_srv >= n_ram else 'p50'} |"
        )
    sentences = limit_sentences(
        data, models, at_ram, served, ram_text, p50_budget_ms, build_budget_h
    )
    return out + ["", *(f"- {sentence}" for sentence in sentences)]


def limit_sentences(
    data: dict[str, Any],
    models: list[Model],
    at_ram: list[float],
    served: list[float],
    ram_text: str,
    p50_budget_ms: float,
    build_budget_h: float,
) -> list[str]:
    """The binding limit of each kind of phase, in words, from the extrapolated figures."""
    n0, cpus = data["n"], data["machine"]["cpus"]
    n0_text = vectors_text(n0)
    budget = f"{p50_budget_ms:g} ms"
    name = [short_name(mod.row["phase"]) for mod in models]
    sentences = []
    hnsw = [i for i, mod in enumerate(models) if mod.hnsw]
    flat = [i for i, mod in enumerate(models) if not mod.hnsw]
    if hnsw:
        first, *others = hnsw
        row = models[first].row
        worst_p50 = max(models[i].p50_ms(at_ram[i]) for i in hnsw)
        in_build = {i: models[i].n_for_build(build_budget_h * 3600) for i in hnsw}
        if all(served[i] >= at_ram[i] for i in hnsw):
            bound = (
                f"are bounded by RAM, not latency (at most {ms_text(worst_p50)} p50 at their "
                "RAM limits)"
            )
        else:
            bound = f"exceed a {budget} p50 before they fill RAM"
        if all(in_build[i] < 0.5 * at_ram[i] for i in hnsw):
            bound += f", and on {cpus} cores by build time long before RAM"
        elif all(in_build[i] < at_ram[i] for i in hnsw):
            bound += f", and on {cpus} cores by build time before RAM"
        at_limit = "; ".join(
            f"{name[i]} {duration_text(models[i].build_s(at_ram[i]))} at {vectors_text(at_ram[i])}"
            for i in others
        )
        covers = " / ".join(f"{vectors_text(in_build[i])} {name[i]}" for i in hnsw)
        sentences.append(
            f"The HNSW phases ({', '.join(name[i] for i in hnsw)}) {bound}: {name[first]} "
            f"took {row['build_s']:,.0f} s to build {n0_text} vectors, so about "
            f"{duration_text(models[first].build_s(at_ram[first]))} at its RAM limit of "
            f"{vectors_text(at_ram[first])}"
            + (f" ({at_limit})" if at_limit else "")
            + f", and a {build_budget_h:g} h build covers about {covers} vectors."
        )
    if flat:
        first, *others = flat
        row = models[first].row
        ten = 10 * n0
        fits = " / ".join(vectors_text(at_ram[i]) for i in flat)
        per_vector = " / ".join(f"{models[i].row['ram_bytes_per_vector']:,.0f}" for i in flat)
        bound = (
            "but are bounded by latency"
            if all(served[i] < at_ram[i] for i in flat)
            else "and are bounded by RAM or latency"
        )
        more = "; ".join(
            f"{name[i]}: {ms_text(models[i].row['p50_ms'])} -> "
            f"{ms_text(models[i].p50_ms(ten))}, limit ~{vectors_text(served[i])}"
            for i in others
        )
        sentences.append(
            f"The flat binary scans fit {fits} vectors in RAM ({per_vector} B/vector; "
            f"{name[first]}'s files, mostly float32 vectors for rescoring, would then take "
            f"{gb_text(row['disk_bytes_per_vector'] * at_ram[first])} of disk) {bound}: "
            f"{name[first]} answers in {ms_text(row['p50_ms'])} (p50) at {n0_text} vectors, "
            f"about {ms_text(models[first].p50_ms(ten))} at {vectors_text(ten)}, so beyond "
            f"~{vectors_text(served[first])} vectors a {budget} p50 budget is exceeded"
            + (f" ({more})" if more else "")
            + "."
        )
        rescored = [i for i in flat if models[i].row.get("rescore_multiplier")]
        if rescored:
            multipliers = {models[i].row["rescore_multiplier"] for i in rescored}
            recalls = " and ".join(
                f"{models[i].row['recall_at_10']:.3f} for {name[i]}"
                + ("" if len(multipliers) == 1 else f" (k x {models[i].row['rescore_multiplier']})")
                for i in rescored
            )
            how = f" with the top k x {multipliers.pop()} rescored" if len(multipliers) == 1 else ""
            sentences.append(
                f"Their recall@10 at {n0_text}{how} is {recalls}, so larger catalogs need a "
                "higher rescore multiplier (the autopilot measures it), which adds rescoring "
                "time."
            )
    best = max(range(len(models)), key=lambda i: (served[i], models[i].row["recall_at_10"]))
    row = models[best].row
    ties = "; ".join(
        f"{name[i]} fits as many at {models[i].row['ram_bytes_per_vector']:,.0f} B/vector "
        f"with recall@10 {models[i].row['recall_at_10']:.3f}"
        for i in range(len(models))
        if i != best and served[i] >= 0.99 * served[best]
    )
    sentences.append(
        f"Within {ram_text} of RAM and a {budget} p50 budget, {name[best]} serves the most "
        f"vectors, about {vectors_text(served[best])} (recall@10 {row['recall_at_10']:.3f} "
        f"at {n0_text}" + (f"; {ties}" if ties else "") + "), bound by "
        f"{'RAM' if served[best] >= at_ram[best] else 'p50 latency'}; building it takes "
        f"about {duration_text(models[best].build_s(served[best]))} on {cpus} cores."
    )
    return sentences


def render(
    data: dict[str, Any],
    headroom: float = 0.25,
    p50_budget_ms: float = 100.0,
    build_budget_h: float = 1.0,
) -> str:
    lines = [render_header(data), *(table_row(row) for row in data["rows"]), ""]
    if data.get("peak_rss_bytes"):
        lines.append(
            "Peak resident memory of the benchmark process: "
            f"{data['peak_rss_bytes'] / 1024**3:.1f} GB."
        )
        lines.append("")
    if data["rows"]:
        lines += render_limits(data, headroom, p50_budget_ms, build_budget_h)
    return "\n".join(lines).rstrip("\n") + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vectors", type=Path)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--noise", type=float, default=0.5)
    parser.add_argument("--out", type=Path, help="Markdown report; X.json is written next to it")
    parser.add_argument(
        "--render-only",
        type=Path,
        metavar="PATH.json",
        help="re-render the Markdown from a saved JSON without measuring",
    )
    parser.add_argument("--headroom", type=float, default=0.25, help="RAM share left to OS/app")
    parser.add_argument("--p50-budget-ms", type=float, default=100.0)
    parser.add_argument("--build-budget-h", type=float, default=1.0)
    args = parser.parse_args()
    if not 0 <= args.headroom < 1:
        parser.error("--headroom must be in [0, 1)")
    if args.render_only:
        data = json.loads(args.render_only.read_text())
    elif args.vectors is None:
        parser.error("--vectors is required unless --render-only is given")
    else:
        data = measure(args, args.out.with_suffix(".json") if args.out else None)
    text = render(data, args.headroom, args.p50_budget_ms, args.build_budget_h)
    print(text, end="")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)


if __name__ == "__main__":
    main()
