"""Benchmark: CPU embedders on the full demo catalog, throughput and retrieval quality.

    python evals/bench_embedders.py [--threads 2] [--sample 2000] [--rounds 3] [--out FILE]

Variants: torch fp32 (`minilm`, the reference), the ONNX exports of `minilm-onnx-fp32` and
`minilm-onnx` (int8, first layer fp32), and the int8 recipes that lost to it (per-tensor
u8 / per-channel s8 and u8, all layers quantized), built here from the cached fp32 export.

Each variant embeds the whole catalog once (timed: "full texts/s"; the vectors give the
quality columns), then `--rounds` interleaved passes over one random sample, so that every
variant sees the same background load; the "x torch" ratios compare best passes within
the run. Quality: nDCG@10 of exact cosine retrieval over all products for the dev queries
with a product rated >= 2, and the cosine of each variant's document vectors to torch's.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from dona.catalog import ParseOptions, parse_catalog_file  # noqa: E402
from dona.embedders import Embedder, OnnxEmbedder, embedders  # noqa: E402
from dona.evaluation import load_labelled_queries, ndcg_at  # noqa: E402
from dona.text import product_text  # noqa: E402

CATALOG = REPO / "catalog" / "chorus_icecat" / "products.jsonl.gz"
DATASET = REPO / "evals" / "datasets" / "chorus_icecat"

# name -> quantize_dynamic kwargs for the rejected int8 recipes (all layers quantized).
LOSING_INT8 = {
    "onnx int8 u8 per-tensor": dict(weight_type="QUInt8", per_channel=False),
    "onnx int8 s8 per-channel": dict(weight_type="QInt8", per_channel=True),
    "onnx int8 u8 per-channel": dict(weight_type="QUInt8", per_channel=True),
}


def quantized_variant(fp32: OnnxEmbedder, name: str, kwargs: dict, workdir: str) -> OnnxEmbedder:
    """A copy of the fp32 embedder running a differently quantized file (bench only)."""
    import onnx
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic

    source = next(Path(fp32._cache_dir).glob("*-fp32-*.onnx"))
    target = os.path.join(workdir, name.replace(" ", "_") + ".onnx")
    quantize_dynamic(
        source,
        target,
        weight_type=QuantType[kwargs["weight_type"]],
        per_channel=kwargs["per_channel"],
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )
    variant = OnnxEmbedder.__new__(OnnxEmbedder)
    variant.__dict__.update(fp32.__dict__)
    options = ort.SessionOptions()
    options.intra_op_num_threads = fp32._threads or 0
    variant._session = ort.InferenceSession(target, options, providers=["CPUExecutionProvider"])
    variant.model_id = f"{fp32.model_id}+{name}"
    return variant


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--sample", type=int, default=2000, help="texts per timed pass")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved timed passes")
    parser.add_argument("--out", type=Path, help="also write the report here")
    args = parser.parse_args()

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
    kw = dict(threads=args.threads, batch_size=args.batch_size)

    with tempfile.TemporaryDirectory(prefix="dona-bench-emb-") as tmp:
        cache = os.path.join(tmp, "models")
        variants: dict[str, Embedder] = {"torch fp32": embedders.create("minilm", **kw)}
        export_s: dict[str, float] = {}
        for label, name in (
            ("onnx fp32", "minilm-onnx-fp32"),
            ("onnx int8 (chosen)", "minilm-onnx"),
        ):
            emb = embedders.create(name, cache_dir=cache, **kw)
            export_s[label] = timed(lambda emb=emb: emb.embed_query("warm up"))  # export + load
            variants[label] = emb
        for label, qkw in LOSING_INT8.items():
            variants[label] = quantized_variant(variants["onnx fp32"], label, qkw, tmp)
        for emb in variants.values():
            emb.embed_query("warm up")

        say(f"# CPU embedders: {len(texts)} product texts, {len(judged)} judged dev queries")
        say(
            f"threads={args.threads} batch={args.batch_size} cpus={os.cpu_count()} "
            f"load(1m)={os.getloadavg()[0]:.1f}"
        )
        for label, seconds in export_s.items():
            say(f"first use of {label} (export + quantize + load): {seconds:.1f} s")
        say()

        full: dict[str, float] = {}
        vectors: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for label, emb in variants.items():
            start = time.perf_counter()
            docs = emb.embed_documents(texts)
            full[label] = len(texts) / (time.perf_counter() - start)
            queries = np.stack([emb.embed_query(labelled.queries[q]) for q in judged])
            vectors[label] = (docs, queries)
            print(f"  {label}: {full[label]:.0f} texts/s on the full catalog", flush=True)

        passes: dict[str, list[float]] = {label: [] for label in variants}
        for _ in range(args.rounds):
            for label, emb in variants.items():
                passes[label].append(
                    len(sample) / timed(lambda emb=emb: emb.embed_documents(sample))
                )

    ref_docs = vectors["torch fp32"][0]
    ref_best = max(passes["torch fp32"])
    say(
        "| variant | full texts/s | x torch | sample texts/s best / median | x torch | nDCG@10 "
        "| vs torch | cos mean | cos min |"
    )
    say("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    ref_ndcg = None
    for label in variants:
        docs, queries = vectors[label]
        top = np.argsort(-(queries @ docs.T), axis=1)[:, :10]
        ranked = [[ids[i] for i in row] for row in top]
        ndcg = float(
            np.mean([ndcg_at(r, labelled.labels[q]) for q, r in zip(judged, ranked, strict=True)])
        )
        ref_ndcg = ref_ndcg or ndcg
        cos = np.sum(docs * ref_docs, axis=1)
        best, median = max(passes[label]), float(np.median(passes[label]))
        say(
            f"| {label} | {full[label]:.0f} | {full[label] / full['torch fp32']:.2f} "
            f"| {best:.0f} / {median:.0f} | {best / ref_best:.2f} "
            f"| {ndcg:.4f} | {100 * (ndcg / ref_ndcg - 1):+.1f}% | {cos.mean():.4f} "
            f"| {cos.min():.4f} |"
        )
    if args.out:
        args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
