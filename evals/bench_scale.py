"""Scale benchmark: every index phase on N synthetic vectors shaped like real embeddings.

The vectors are perturbed real product embeddings: each is a real demo-catalog vector
plus Gaussian noise in its principal-component basis (noise per component proportional
to that component's spread), re-normalised. So they keep the real spectrum and
clustering, unlike uniform noise. Queries are fresh perturbations, so they sit near, but
not on, catalog vectors, as real queries do.

For each phase: build time, hot RAM and disk bytes (measured from the index objects and
the files), p50/p95 search latency (k=10, one thread) and recall@10 against exact
float32 search.

    python evals/bench_scale.py --vectors PATH_TO_real.npy [--n 1000000] [--out evals/reports/bench_scale.md]

`--vectors` is a float32 .npy of real embeddings, e.g. `vectors.f32.npy` of an ingested
demo catalog version (DONA_DATA_DIR/indexes/demo/vNNNNN/).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from dona.harness import Candidate  # noqa: E402
from dona.vectorindex import VECTORS, phases, read_manifest, save_vectors, write_manifest  # noqa: E402

CANDIDATES = (
    Candidate.of("f32"),
    Candidate.of("int8"),
    Candidate.of("binary", rescore_multiplier=4),
    Candidate.of("matryoshka", dims=192, rotation="pca", whiten=0.1),
    Candidate.of("matryoshka", dims=192, rotation="pca", quantization="binary", rescore=True),
)


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vectors", type=Path, required=True)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--noise", type=float, default=0.5)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    lines: list[str] = []

    def say(line: str = "") -> None:
        print(line, flush=True)
        lines.append(line)

    real = np.load(args.vectors).astype(np.float32)
    t0 = time.perf_counter()
    vectors = synthesise(real, args.n, args.noise, seed=1)
    queries = synthesise(real, args.queries, args.noise, seed=2)
    make_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    truth = exact_top(vectors, queries, 10)
    exact_ms = (time.perf_counter() - t0) * 1000 / len(queries)
    threads = os.cpu_count() or 1

    say(f"# Scale benchmark: {args.n:,} synthetic vectors ({real.shape[1]}-d)")
    say()
    say(
        f"Machine: {threads} CPUs, {platform.machine()}, Python {platform.python_version()}. "
        f"Vectors: {len(real):,} real demo-catalog embeddings perturbed in their PCA basis "
        f"(noise {args.noise} x per-component spread), generated in {make_s:.0f} s. "
        f"{args.queries} queries; recall@10 against exact float32 search "
        f"(brute force: {exact_ms:.0f} ms/query). Builds use {threads} threads; searches "
        "one query at a time."
    )
    say()
    say("| phase | build s | hot RAM B/vec | disk B/vec | p50 ms | p95 ms | recall@10 |")
    say("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="dona-scale-", dir=os.environ.get("TMPDIR")) as tmp:
        base = Path(tmp)
        save_vectors(vectors, base)
        for number, candidate in enumerate(CANDIDATES):
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
                index.search(q, 10)
            latencies, hits = [], 0
            for i, q in enumerate(queries):
                t0 = time.perf_counter()
                positions, _ = index.search(q, 10)
                latencies.append((time.perf_counter() - t0) * 1000)
                hits += len(set(positions.tolist()) & set(truth[i].tolist()))
            say(
                f"| {candidate.label} | {build_s:.0f} | {index.ram_bytes() / args.n:,.0f} | "
                f"{index.disk_bytes() / args.n:,.0f} | {np.percentile(latencies, 50):.2f} | "
                f"{np.percentile(latencies, 95):.2f} | {hits / (10 * len(queries)):.3f} |"
            )
            del index
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    say()
    say(f"Peak resident memory of the benchmark process: {peak_gb:.1f} GB.")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
