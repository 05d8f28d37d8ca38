"""Benchmark: CPU embedders on the full demo catalog, throughput and retrieval quality.

    python evals/bench_embedders.py [--threads 2] [--sample 2000] [--rounds 3] [--out FILE]

Variants: torch fp32 (`minilm`, the reference); `minilm-onnx-fp32`; `minilm-onnx` (int8
documents with the first layer fp32, fp32 queries), also scored with int8 queries; and the
int8 recipes that lost to it (all layers quantized, fp32 queries), built here from the
cached fp32 export.

Each variant embeds the whole catalog once ("full": sequential, so exposed to changes in
background load; its vectors give the quality columns), then `--rounds` interleaved passes
over one random sample, so that every variant sees the same load ("x torch" compares best
passes). Quality: nDCG@10 of exact cosine retrieval over all products for the dev queries
with a product rated >= 2, with a paired bootstrap 95% interval of the change against
torch; overlap of the top 10 with torch's; cosine of the document vectors to torch's.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from dona.catalog import ParseOptions, parse_catalog_file  # noqa: E402
from dona.catalog.text import product_text  # noqa: E402
from dona.config import Settings  # noqa: E402
from dona.embed import Embedder, embedders  # noqa: E402
from dona.embed.onnx import OnnxEmbedder  # noqa: E402
from dona.eval.metrics import load_labelled_queries, ndcg_at  # noqa: E402

CATALOG = REPO / "catalog" / "chorus_icecat" / "products.jsonl.gz"
DATASET = REPO / "evals" / "datasets" / "chorus_icecat"

# label -> quantize_dynamic settings of the rejected int8 recipes (all layers quantized).
LOSING_INT8 = {
    "onnx int8 u8 per-tensor": ("QUInt8", False),
    "onnx int8 s8 per-channel": ("QInt8", True),
    "onnx int8 u8 per-channel": ("QUInt8", True),
}


def with_sessions(base: OnnxEmbedder, label: str, docs: Any, queries: Any) -> OnnxEmbedder:
    """A copy of a loaded ONNX embedder that runs other ORT sessions (bench only)."""
    variant = copy.copy(base)
    variant._sessions = {"docs": docs, "queries": queries}
    variant.model_id = f"{base.model_id}+{label}"
    return variant


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--sample", type=int, default=2000, help="texts per timed pass")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved timed passes")
    parser.add_argument("--out", type=Path, help="also write the report here")
    args = parser.parse_args()

    import onnx
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic

    lines: list[str] = []

    def say(line: str = "") -> None:
        print(line, flush=True)
        lines.append(line)

    products = parse_catalog_file(CATALOG, ParseOptions(prices_in_minor_units=True)).products
    texts = [product_text(p) for p in products]
    ids = [p.id for p in products]
    labelled = load_labelled_queries(DATASET / "queries_dev.tsv", DATASET / "labels_dev.tsv")
    judged = labelled.judged(relevant_at=2)
    sample = [texts[i] for i in np.random.default_rng(0).choice(len(texts), args.sample, False)]
    with tempfile.TemporaryDirectory(prefix="dona-bench-emb-") as tmp:
        cache = Path(tmp) / "models"
        settings = Settings(
            threads=args.threads, embed_batch_size=args.batch_size, model_cache_dir=cache
        )
        timed: dict[str, Embedder] = {"torch fp32": embedders.create("minilm", settings)}
        first_use: dict[str, float] = {}
        for label, name in (
            ("onnx fp32", "minilm-onnx-fp32"),
            ("onnx int8 (chosen)", "minilm-onnx"),
        ):
            timed[label] = embedders.create(name, settings)
            start = time.perf_counter()
            timed[label].embed_query("warm up")  # export (+ quantize) + load
            first_use[label] = time.perf_counter() - start
        chosen: Any = timed["onnx int8 (chosen)"]
        fp32_file = next(cache.glob("*-fp32-*.onnx"))
        options = ort.SessionOptions()
        options.intra_op_num_threads = args.threads
        for label, (weight_type, per_channel) in LOSING_INT8.items():
            target = os.path.join(tmp, f"{label.replace(' ', '_')}.onnx")
            quantize_dynamic(
                fp32_file,
                target,
                weight_type=QuantType[weight_type],
                per_channel=per_channel,
                extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
            )
            docs = ort.InferenceSession(target, options, providers=["CPUExecutionProvider"])
            timed[label] = with_sessions(chosen, label, docs, chosen._sessions["queries"])
        # Same document vectors as the chosen variant; only the query side differs.
        int8_queries = with_sessions(
            chosen, "int8 queries", chosen._sessions["docs"], chosen._sessions["docs"]
        )
        for emb in timed.values():
            emb.embed_query("warm up")

        say(f"# CPU embedders: {len(texts)} product texts, {len(judged)} judged dev queries")
        say(
            f"threads={args.threads} batch={args.batch_size} cpus={os.cpu_count()} "
            f"load(1m)={os.getloadavg()[0]:.1f}"
        )
        for label, seconds in first_use.items():
            say(f"first use of {label} (export + quantize + load): {seconds:.1f} s")
        say()

        full: dict[str, float] = {}
        vectors: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for label, emb in timed.items():
            start = time.perf_counter()
            docs = emb.embed_documents(texts)
            full[label] = len(texts) / (time.perf_counter() - start)
            vectors[label] = (
                docs,
                np.stack([emb.embed_query(labelled.queries[q]) for q in judged]),
            )
            print(f"  {label}: {full[label]:.0f} texts/s on the full catalog", flush=True)
        int8_q = np.stack([int8_queries.embed_query(labelled.queries[q]) for q in judged])
        vectors["onnx int8 (chosen), int8 queries"] = (vectors["onnx int8 (chosen)"][0], int8_q)

        passes: dict[str, list[float]] = {label: [] for label in timed}
        for _ in range(args.rounds):
            for label, emb in timed.items():
                start = time.perf_counter()
                emb.embed_documents(sample)
                passes[label].append(len(sample) / (time.perf_counter() - start))

    def retrieve(label: str) -> tuple[np.ndarray, list[list[str]]]:
        docs, queries = vectors[label]
        top = np.argsort(-(queries @ docs.T), axis=1)[:, :10]
        ranked = [[ids[i] for i in row] for row in top]
        scores = [ndcg_at(r, labelled.labels[q]) for q, r in zip(judged, ranked, strict=True)]
        return np.asarray(scores), ranked

    ref_scores, ref_ranked = retrieve("torch fp32")
    ref_docs = vectors["torch fp32"][0]
    boot = np.random.default_rng(1).integers(0, len(judged), (2000, len(judged)))
    say(
        "| variant | full texts/s | x torch | sample texts/s best / median | x torch "
        "| nDCG@10 | vs torch [95% CI] | top-10 overlap | doc cos mean / min |"
    )
    say("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label in vectors:
        scores, ranked = retrieve(label)
        change = 100 * (scores.mean() / ref_scores.mean() - 1)
        low, high = np.percentile(
            100 * (scores[boot].mean(1) / ref_scores[boot].mean(1) - 1), [2.5, 97.5]
        )
        overlap = np.mean(
            [len(set(a) & set(b)) / 10 for a, b in zip(ranked, ref_ranked, strict=True)]
        )
        cos = np.sum(vectors[label][0] * ref_docs, axis=1)
        speed = "| (same documents) | | | "
        if label in timed:
            best, median = max(passes[label]), float(np.median(passes[label]))
            speed = (
                f"| {full[label]:.0f} | {full[label] / full['torch fp32']:.2f} "
                f"| {best:.0f} / {median:.0f} | {best / max(passes['torch fp32']):.2f} "
            )
        say(
            f"| {label} {speed}| {scores.mean():.4f} | {change:+.1f}% [{low:+.1f}, {high:+.1f}] "
            f"| {overlap:.3f} | {cos.mean():.4f} / {cos.min():.4f} |"
        )
    if args.out:
        args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
