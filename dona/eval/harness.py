"""Measure every index phase on a catalog and adopt the cheapest one inside the gate.

For each candidate (phase + configuration) and each retrieval mode (dense, hybrid) the
harness builds the phase's index from the live version's float32 vectors, runs the
queries and computes, per query: nDCG@10 (gain 2^rating - 1), Recall@10, Recall@100,
MRR@10 and overlap@10 against exact float32 neighbours. Drops are relative to the f32
phase, `(m_f32 - m_phase) / m_f32`, with a paired bootstrap 95% interval over queries.

The rule: a candidate passes when its drop is below the threshold (3%) on every gated
metric in every mode; the adopted candidate is the passing one with the least hot RAM.
Choosing among many candidates on a few dozen queries favours the lucky ones, so a
`confident` choice also wants the upper end of each drop's 95% interval below the
threshold (CI's autopilot uses it, then confirms its choice on other queries).

Without labels the harness uses probe queries generated from the catalog itself (see
`probe_queries`): each probe's source product is its one relevant answer (known-item
search), so the same metrics and the same gate apply.

The relative rule cannot see a regression that hits f32 too (a weaker fusion or embedder
lowers every candidate alike), so CI also holds the served configuration above absolute
floors (`load_floors`, evals/floors.json). Labelled queries split into two fixed halves
(`query_half`): the autopilot chooses on half A, the gate confirms on half B.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dona.catalog import Product
from dona.errors import DonaError
from dona.eval.metrics import LabelledQueries, mrr_at, ndcg_at, recall_at
from dona.index import VECTORS, exact_search, link_or_copy, phases, read_manifest, write_manifest
from dona.search import BRIDGED, hybrid_fusion

GATED_METRICS = ("ndcg@10", "recall@10", "recall@100")
METRICS = ("ndcg@10", "recall@10", "recall@100", "mrr@10", "overlap@10")
MODES = ("dense", "hybrid")
DEFAULT_THRESHOLD = 0.03
DEPTH = 100


@dataclass(frozen=True)
class Candidate:
    phase: str
    config: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def of(cls, phase: str, **config: Any) -> Candidate:
        return cls(phase, tuple(sorted(config.items())))

    @property
    def config_dict(self) -> dict[str, Any]:
        return dict(self.config)

    @property
    def label(self) -> str:
        if not self.config:
            return self.phase
        return self.phase + "(" + ", ".join(f"{k}={v}" for k, v in self.config) + ")"


BASELINE = Candidate.of("f32")
DEFAULT_CANDIDATES: tuple[Candidate, ...] = (
    BASELINE,
    # symmetric int8 (int8 query x int8 corpus): the textbook setting, shown to fail
    Candidate.of("int8", symmetric=True, metric="ip"),
    Candidate.of("int8"),  # f32 query x int8 corpus, per-dimension calibrated ranges
    Candidate.of("binary", rescore=False),
    Candidate.of("binary", rescore_multiplier=2),
    Candidate.of("binary", rescore_multiplier=4),
    Candidate.of("binary", rescore_multiplier=8),
    Candidate.of("matryoshka", dims=192, rotation="native"),  # plain truncation
    Candidate.of("matryoshka", dims=192, rotation="pca"),
    # partially whitened PCA prefix (see phases.MatryoshkaBuilder): no rescoring needed
    Candidate.of("matryoshka", dims=192, rotation="pca", whiten=0.1),
    Candidate.of("matryoshka", dims=192, rotation="pca", quantization="int8"),
    Candidate.of("matryoshka", dims=192, rotation="pca", quantization="int8", whiten=0.1),
    Candidate.of("matryoshka", dims=128, rotation="pca", rescore=True),
    Candidate.of("matryoshka", dims=192, rotation="pca", quantization="binary", rescore=True),
)


# ---- query sets -------------------------------------------------------------------


_WORD_RE = re.compile(r"[A-Za-z][A-Za-z\-]{2,}")


def probe_queries(products: Sequence[Product], n: int = 300, seed: int = 0) -> LabelledQueries:
    """Label-free probe queries, each with its source product as the one relevant answer.

    Three kinds, cycled over a seeded sample of products, to look like what shoppers type:
    - the first words of the title ("hp 80 original cyan"),
    - brand plus the title's descriptive words, model numbers dropped ("hp original cyan"),
    - an attribute or description phrase with the brand ("hp dye-based ink cartridge").
    """
    rng = random.Random(seed)
    sample = rng.sample(list(products), min(n, len(products)))
    queries: dict[str, str] = {}
    labels: dict[str, dict[str, int]] = {}
    for i, product in enumerate(sample):
        words = _WORD_RE.findall(product.title)
        brand = (product.brand or "").lower()
        kind = i % 3
        if kind == 0:
            text = " ".join(product.title.lower().split()[:5])
        elif kind == 1:
            descriptive = [w.lower() for w in words if w.lower() != brand][:4]
            text = " ".join([brand, *descriptive]).strip()
        else:
            phrases = [
                str(v)
                for v in product.attributes.values()
                if isinstance(v, str) and 3 < len(v) < 40
            ]
            source = rng.choice(phrases) if phrases else (product.description or product.title)
            text = " ".join([brand, *source.lower().split()[:5]]).strip()
        if not text:
            continue
        qid = f"probe{i:04d}"
        queries[qid] = text
        labels[qid] = {product.id: 3}
    return LabelledQueries(queries, labels)


# ---- halves: choose on one, confirm on the other ----------------------------------------

HALVES = ("A", "B")


def query_half(query_id: str) -> str:
    """Half A or B, fixed by the sha256 of the query id (not by its position or text), so
    a query keeps its half when others are added or reworded."""
    return HALVES[hashlib.sha256(query_id.encode("utf-8")).digest()[-1] & 1]


def split_half(data: LabelledQueries, half: str) -> LabelledQueries:
    """The queries (and their labels) of one half."""
    if half not in HALVES:
        raise DonaError(f"--half must be A or B, not {half!r}")
    keep = [q for q in data.queries if query_half(q) == half]
    return LabelledQueries(
        {q: data.queries[q] for q in keep}, {q: data.labels[q] for q in keep if q in data.labels}
    )


def dataset_label(name: str, half: str | None) -> str:
    return f"{name}, half {half}" if half else name


# ---- measuring ----------------------------------------------------------------------


@dataclass
class Measurement:
    candidate: Candidate
    mode: str
    per_query: dict[str, np.ndarray]  # metric -> values over judged queries (overlap: all)
    latencies_ms: np.ndarray
    ram_bytes_per_vector: float
    disk_bytes_per_vector: float
    manifest_config: dict[str, Any]
    drop: dict[str, float] = field(default_factory=dict)
    drop_ci: dict[str, tuple[float, float]] = field(default_factory=dict)
    passes_gate: bool = True

    def mean(self, metric: str) -> float:
        values = self.per_query[metric]
        return float(values.mean()) if values.size else 0.0


def build_candidate(candidate: Candidate, version_dir: Path, work_dir: Path, threads: int):
    """Build a candidate's index beside a copy (hard link) of the version's f32 vectors."""
    work_dir.mkdir(parents=True, exist_ok=True)
    link_or_copy(version_dir / VECTORS, work_dir / VECTORS)
    vectors = np.load(work_dir / VECTORS, mmap_mode="r")
    builder = phases.create(candidate.phase, **candidate.config_dict)
    part = builder.build(np.asarray(vectors), work_dir, threads)
    write_manifest(
        work_dir,
        {
            "phase": candidate.phase,
            "phase_config": part,
            "count": int(vectors.shape[0]),
            "files": [VECTORS, *part["files"]],
        },
    )
    manifest = read_manifest(work_dir, expect={"phase": candidate.phase})
    return phases.create(candidate.phase).load(work_dir, manifest), manifest


def _per_query_metrics(
    ranked: Sequence[str], ratings: dict[str, int] | None, relevant_at: int
) -> dict[str, float]:
    if not ratings or not any(r >= relevant_at for r in ratings.values()):
        return {}
    return {
        "ndcg@10": ndcg_at(ranked, ratings, 10),
        "recall@10": recall_at(ranked, ratings, 10, relevant_at),
        "recall@100": recall_at(ranked, ratings, 100, relevant_at),
        "mrr@10": mrr_at(ranked, ratings, 10, relevant_at),
    }


def paired_bootstrap_drop(
    base: np.ndarray, other: np.ndarray, rounds: int = 2000, seed: int = 0
) -> tuple[float, tuple[float, float]]:
    """Relative drop of the mean and its 95% interval, resampling queries in pairs."""
    if base.size == 0 or base.mean() == 0:
        return 0.0, (0.0, 0.0)
    drop = float((base.mean() - other.mean()) / base.mean())
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, base.size, size=(rounds, base.size))
    b, o = base[idx].mean(axis=1), other[idx].mean(axis=1)
    drops = np.where(b > 0, (b - o) / np.where(b > 0, b, 1), 0.0)
    low, high = np.percentile(drops, [2.5, 97.5])
    return drop, (float(low), float(high))


@dataclass
class EvaluationResult:
    dataset: str
    queries: int
    judged: int
    excluded: int
    label_free: bool
    threshold: float
    measurements: list[Measurement]
    adopted: Measurement | None
    query_embed_ms_p50: float
    confident: bool = False

    def _fails(self, m: Measurement, metric: str) -> str | None:
        drop = m.drop.get(metric, 0.0)
        high = m.drop_ci.get(metric, (0.0, 0.0))[1]
        if drop >= self.threshold:
            return f"by {drop:.1%}"
        if self.confident and high >= self.threshold:
            return f"by {drop:.1%}, up to {high:.1%} in its 95% interval"
        return None

    @property
    def rule(self) -> str:
        what = "upper end of the 95% interval of the drop" if self.confident else "drop"
        return f"{what} < {self.threshold:.0%} vs f32 on {', '.join(GATED_METRICS)} in every mode"

    def find(self, candidate: Candidate, mode: str) -> Measurement | None:
        for m in self.measurements:
            if m.candidate == candidate and m.mode == mode:
                return m
        return None

    def gate_failures(
        self, candidate: Candidate, metrics: Sequence[str] = GATED_METRICS
    ) -> list[str]:
        failures = []
        for m in self.measurements:
            if m.candidate != candidate:
                continue
            for metric in metrics:
                how = self._fails(m, metric)
                if how:
                    failures.append(
                        f"phase {candidate.label} ({m.mode}) drops {metric} {how} "
                        f"(limit {self.threshold:.0%})"
                    )
        return failures

    def to_dict(self) -> dict[str, Any]:
        def row(m: Measurement) -> dict[str, Any]:
            return {
                "phase": m.candidate.phase,
                "config": m.manifest_config,
                "candidate": m.candidate.label,
                "mode": m.mode,
                **{metric: round(m.mean(metric), 5) for metric in METRICS},
                "drop": {k: round(v, 5) for k, v in m.drop.items()},
                "drop_ci95": {k: [round(a, 5), round(b, 5)] for k, (a, b) in m.drop_ci.items()},
                "ram_bytes_per_vector": round(m.ram_bytes_per_vector, 1),
                "disk_bytes_per_vector": round(m.disk_bytes_per_vector, 1),
                "p50_ms": round(float(np.percentile(m.latencies_ms, 50)), 3),
                "p95_ms": round(float(np.percentile(m.latencies_ms, 95)), 3),
                "passes_gate": m.passes_gate,
            }

        adopted = None
        if self.adopted is not None:
            adopted = {
                "phase": self.adopted.candidate.phase,
                "config": self.adopted.candidate.config_dict,
                "candidate": self.adopted.candidate.label,
                "ram_bytes_per_vector": round(self.adopted.ram_bytes_per_vector, 1),
                "reason": f"least hot RAM among candidates whose {self.rule}",
            }
        return {
            "dataset": self.dataset,
            "queries": self.queries,
            "judged_queries": self.judged,
            "excluded_queries": self.excluded,
            "label_free": self.label_free,
            "threshold": self.threshold,
            "confident": self.confident,
            "gated_metrics": list(GATED_METRICS),
            "query_embed_ms_p50": round(self.query_embed_ms_p50, 3),
            "results": [row(m) for m in self.measurements],
            "adopted": adopted,
        }


def evaluate_phases(
    dona,
    catalog: str | None,
    data: LabelledQueries,
    dataset: str,
    candidates: Sequence[Candidate] = DEFAULT_CANDIDATES,
    modes: Sequence[str] = MODES,
    relevant_at: int = 2,
    threshold: float = DEFAULT_THRESHOLD,
    label_free: bool = False,
    progress: Callable[[str], None] | None = None,
    confident: bool = False,
) -> EvaluationResult:
    """Measure candidates on the live version of a catalog (see module docstring)."""
    progress = progress or (lambda message: None)
    served = dona.served(catalog)
    version_dir = served.directory
    ids = served.facets["product_id"]
    candidates = list(dict.fromkeys([BASELINE, *candidates]))

    qids = list(data.queries)
    if not qids:
        raise DonaError("the query set is empty")
    embed_ms = []
    # each query as typed and, where the language bridge changes it, in the catalog's
    # words: ranked and fused exactly as live search does (`hybrid_fusion`)
    forms: dict[str, dict[str, str]] = {}
    qvecs: dict[tuple[str, str], np.ndarray] = {}
    for q in qids:
        bridged = served.bridged(data.queries[q])
        forms[q] = (
            {"": data.queries[q], BRIDGED: bridged.text}
            if bridged.changed
            else {"": data.queries[q]}
        )
        t0 = time.perf_counter()
        for suffix, text in forms[q].items():
            qvecs[q, suffix] = dona.embedder.embed_query(text)
        embed_ms.append((time.perf_counter() - t0) * 1000)
    lexical = {
        (q, suffix): served.lexical.search(text, DEPTH)[0]
        for q in qids
        for suffix, text in forms[q].items()
    }

    def dense_form(q: str) -> str:  # what dense-only mode ranks with: the bridged form
        return BRIDGED if BRIDGED in forms[q] else ""

    def search_all(search, q: str) -> dict[str, np.ndarray]:
        return {suffix: search(qvecs[q, suffix], DEPTH)[0] for suffix in forms[q]}

    exact = {q: search_all(lambda v, n: exact_search(served.vectors, v, n), q) for q in qids}

    def fuse(dense: dict[str, np.ndarray], q: str) -> list[int]:
        rankings: dict[str, np.ndarray] = {}
        for suffix in forms[q]:
            rankings["dense" + suffix] = dense[suffix]
            rankings["bm25" + suffix] = lexical[q, suffix]
        hits = hybrid_fusion(rankings, dona.settings)
        return [h.position for h in hits[:DEPTH]]

    exact_top = {
        "dense": {q: set(exact[q][dense_form(q)][:10].tolist()) for q in qids},
        "hybrid": {q: set(fuse(exact[q], q)[:10]) for q in qids},
    }
    judged = {q for q in qids if any(r >= relevant_at for r in data.labels.get(q, {}).values())}

    threads = dona.settings.threads or os.cpu_count() or 1
    measurements: list[Measurement] = []
    work_root = Path(tempfile.mkdtemp(prefix="eval-", dir=dona.settings.data_dir))
    try:
        for number, candidate in enumerate(candidates):
            progress(f"[{number + 1}/{len(candidates)}] {candidate.label}")
            index, manifest = build_candidate(
                candidate, version_dir, work_root / f"c{number}", threads
            )
            count = max(index.count, 1)
            ram = index.ram_bytes() / count
            disk = index.disk_bytes() / count
            for mode in modes:
                per_query: dict[str, list[float]] = {metric: [] for metric in METRICS}
                latencies = []
                for q in qids:
                    t0 = time.perf_counter()
                    if mode == "dense":
                        positions, _ = index.search(qvecs[q, dense_form(q)], DEPTH)
                        ranking = positions.tolist()
                    else:
                        ranking = fuse(search_all(index.search, q), q)
                    latencies.append((time.perf_counter() - t0) * 1000)
                    per_query["overlap@10"].append(len(exact_top[mode][q] & set(ranking[:10])) / 10)
                    if q in judged:
                        ranked_ids = [ids[p] for p in ranking]
                        for metric, value in _per_query_metrics(
                            ranked_ids, data.labels[q], relevant_at
                        ).items():
                            per_query[metric].append(value)
                measurements.append(
                    Measurement(
                        candidate=candidate,
                        mode=mode,
                        per_query={k: np.asarray(v, dtype=float) for k, v in per_query.items()},
                        latencies_ms=np.asarray(latencies),
                        ram_bytes_per_vector=ram,
                        disk_bytes_per_vector=disk,
                        manifest_config=manifest["phase_config"].get("config", {}),
                    )
                )
            del index
    finally:
        shutil.rmtree(work_root, ignore_errors=True)

    for m in measurements:
        base = next(b for b in measurements if b.candidate == BASELINE and b.mode == m.mode)
        for metric in METRICS:
            drop, ci = paired_bootstrap_drop(base.per_query[metric], m.per_query[metric])
            m.drop[metric], m.drop_ci[metric] = drop, ci
    result = EvaluationResult(
        dataset=dataset,
        queries=len(qids),
        judged=len(judged),
        excluded=len(qids) - len(judged),
        label_free=label_free,
        threshold=threshold,
        measurements=measurements,
        adopted=None,
        query_embed_ms_p50=float(np.percentile(embed_ms, 50)),
        confident=confident,
    )
    for candidate in candidates:
        ok = not result.gate_failures(candidate)
        for m in measurements:
            if m.candidate == candidate:
                m.passes_gate = ok
    passing = [m for m in measurements if m.passes_gate and m.mode == modes[0]]
    result.adopted = min(
        passing,
        key=lambda m: (m.ram_bytes_per_vector, float(np.percentile(m.latencies_ms, 50))),
        default=None,
    )
    return result


# ---- absolute floors ------------------------------------------------------------------


@dataclass(frozen=True)
class Floor:
    """The least value a metric of the served configuration may have in one mode."""

    name: str
    mode: str
    metric: str
    minimum: float


@dataclass(frozen=True)
class Floors:
    """Named floors and the query set they were set on (see evals/floors.json)."""

    path: str
    dataset: str  # as `dataset_label` writes it: floors only compare on the same queries
    floors: tuple[Floor, ...]

    def check(
        self, result: EvaluationResult, candidate: Candidate
    ) -> list[tuple[Floor, float, bool]]:
        """(floor, measured value, holds) for each floor, on `candidate`'s measurements."""
        if result.label_free or result.dataset != self.dataset:
            raise DonaError(
                f"the floors in {self.path} were set on {self.dataset}; evaluate that query "
                f"set (not {result.dataset}) to check them"
            )
        out = []
        for floor in self.floors:
            measured = result.find(candidate, floor.mode)
            if measured is None:
                raise DonaError(f"floor {floor.name!r} needs the {floor.mode} mode measured")
            value = measured.mean(floor.metric)
            out.append((floor, value, value >= floor.minimum))
        return out

    def failures(self, result: EvaluationResult, candidate: Candidate) -> list[str]:
        return [
            f"floor {floor.name!r} broken: {candidate.label} ({floor.mode}) {floor.metric} "
            f"{value:.4f} < {floor.minimum:.4f} ({self.path})"
            for floor, value, holds in self.check(result, candidate)
            if not holds
        ]


def load_floors(path: str | Path) -> Floors:
    """Read a floors file: {"dataset", "half", "floors": {NAME: {"mode", "metric", "min"}}}."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise DonaError(f"cannot read the floors file {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise DonaError(f"the floors file {path} is not JSON: {exc}") from None
    try:
        floors = tuple(
            Floor(str(name), spec["mode"], spec["metric"], float(spec["min"]))
            for name, spec in raw["floors"].items()
        )
        dataset = dataset_label(str(raw["dataset"]), raw.get("half"))
        assert floors and all(f.mode in MODES and f.metric in METRICS for f in floors)
    except (KeyError, TypeError, ValueError, AttributeError, AssertionError):
        raise DonaError(
            f"the floors file {path} needs {{'dataset', 'half', 'floors': {{NAME: {{'mode' "
            f"({' or '.join(MODES)}), 'metric' ({', '.join(METRICS)}), 'min'}}}}}}"
        ) from None
    return Floors(str(path), dataset, floors)


# ---- reports ----------------------------------------------------------------------


def markdown_report(result: EvaluationResult, title: str = "Index phases") -> str:
    lines = [
        f"# {title}: {result.dataset}",
        "",
        f"{result.queries} queries, {result.judged} judged "
        f"({result.excluded} without a relevant product excluded from label metrics)"
        + (" — label-free probe queries (known-item)" if result.label_free else "")
        + f". Gate: {result.rule}. Latency: ranking only (query embedding p50 "
        f"{result.query_embed_ms_p50:.1f} ms, shared by all).",
        "",
        "| candidate | mode | nDCG@10 | R@10 | R@100 | MRR@10 | overlap@10 | nDCG drop (95% CI) "
        "| RAM B/vec | disk B/vec | p50 ms | p95 ms | gate |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for m in result.measurements:
        low, high = m.drop_ci.get("ndcg@10", (0.0, 0.0))
        lines.append(
            f"| {m.candidate.label} | {m.mode} | {m.mean('ndcg@10'):.4f} | "
            f"{m.mean('recall@10'):.3f} | {m.mean('recall@100'):.3f} | {m.mean('mrr@10'):.3f} | "
            f"{m.mean('overlap@10'):.3f} | {m.drop['ndcg@10']:+.1%} ({low:+.1%}, {high:+.1%}) | "
            f"{m.ram_bytes_per_vector:,.0f} | {m.disk_bytes_per_vector:,.0f} | "
            f"{np.percentile(m.latencies_ms, 50):.2f} | {np.percentile(m.latencies_ms, 95):.2f} | "
            f"{'pass' if m.passes_gate else 'FAIL'} |"
        )
    lines.append("")
    if result.adopted:
        a = result.adopted
        lines.append(
            f"**Adopted: `{a.candidate.label}`** — {a.ram_bytes_per_vector:,.0f} hot-RAM bytes "
            "per vector, the least among candidates that pass the gate."
        )
    else:
        lines.append("**No candidate passes the gate.**")
    return "\n".join(lines) + "\n"


def plot_quality_vs_memory(result: EvaluationResult, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(MODES), figsize=(12, 5), sharey=True)
    for ax, mode in zip(np.atleast_1d(axes), MODES, strict=False):
        rows = [m for m in result.measurements if m.mode == mode]
        for m in rows:
            colour = "tab:green" if m.passes_gate else "tab:red"
            ax.scatter(m.ram_bytes_per_vector, m.mean("ndcg@10"), color=colour, s=40)
            ax.annotate(
                m.candidate.label,
                (m.ram_bytes_per_vector, m.mean("ndcg@10")),
                fontsize=7,
                xytext=(4, 3),
                textcoords="offset points",
            )
        base = next((m for m in rows if m.candidate == BASELINE), None)
        if base is not None:
            ax.axhline(base.mean("ndcg@10") * (1 - result.threshold), color="grey", ls="--", lw=1)
        ax.set_xscale("log")
        ax.set_xlabel("hot RAM bytes per vector (log)")
        ax.set_title(f"{mode} retrieval")
        ax.grid(True, alpha=0.3)
    np.atleast_1d(axes)[0].set_ylabel(
        "nDCG@10" + (" (known-item probes)" if result.label_free else "")
    )
    fig.suptitle(
        f"Quality vs memory — {result.dataset} (green: passes the {result.threshold:.0%} gate)"
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_outputs(
    result: EvaluationResult,
    json_path: Path | None = None,
    report_path: Path | None = None,
    plot_path: Path | None = None,
) -> None:
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(result.to_dict(), indent=2) + "\n")
    if report_path:
        report_path.parent.mkdir(parents=True, exist_ok=True)
        report_path.write_text(markdown_report(result))
    if plot_path:
        plot_quality_vs_memory(result, plot_path)


# ---- autopilot ----------------------------------------------------------------------


def load_query_set(
    dona,
    catalog: str | None,
    queries: Path | None,
    labels: Path | None,
    probes: int = 300,
    half: str | None = None,
) -> tuple[LabelledQueries, str, bool]:
    """Labelled queries when both files are given (only `half` of them when it is named),
    else label-free probes of the catalog."""
    from dona.eval.metrics import load_labelled_queries

    if (queries is None) != (labels is None):
        raise DonaError("give both --queries and --labels, or neither (label-free probes)")
    if queries is not None and labels is not None:
        data = load_labelled_queries(queries, labels)
        if half is not None:
            data = split_half(data, half)
        return data, dataset_label(queries.parent.name or str(queries), half), False
    if half is not None:
        raise DonaError("--half splits labelled queries; give --queries and --labels")
    served = dona.served(catalog)
    products = dona.all_products(catalog)
    return probe_queries(products, n=probes), f"{served.manifest['catalog']} (probes)", True


def autopilot(
    dona,
    catalog: str | None,
    data: LabelledQueries,
    dataset: str,
    label_free: bool,
    threshold: float = DEFAULT_THRESHOLD,
    candidates: Sequence[Candidate] = DEFAULT_CANDIDATES,
    progress: Callable[[str], None] | None = None,
    confident: bool = False,
    merchant: Any = None,
) -> tuple[EvaluationResult, int | None]:
    """Measure the candidates on the catalog and adopt the cheapest that passes the gate
    (`confident`: with the upper end of every drop's 95% interval below the threshold).
    Returns the evaluation and the new live version number (None if nothing changed).
    `merchant`: the signed-in merchant, whose own catalog it must be (checked by `Dona`)."""
    result = evaluate_phases(
        dona,
        catalog,
        data,
        dataset,
        candidates,
        threshold=threshold,
        label_free=label_free,
        progress=progress,
        confident=confident,
    )
    if result.adopted is None:
        raise DonaError("no index phase passes the quality gate, not even f32; nothing changed")
    chosen = result.adopted.candidate
    serving = dona.index_setting(catalog)
    if serving.phase == chosen.phase and serving.config == chosen.config_dict:
        return result, None
    evidence = {
        "adopted": chosen.label,
        "dataset": dataset,
        "label_free": label_free,
        "threshold": threshold,
        "confident": confident,
        "measured": [
            {
                "candidate": m.candidate.label,
                "mode": m.mode,
                "ndcg@10": round(m.mean("ndcg@10"), 5),
                "drop": {k: round(v, 5) for k, v in m.drop.items() if k in GATED_METRICS},
                "ram_bytes_per_vector": round(m.ram_bytes_per_vector, 1),
                "passes_gate": m.passes_gate,
            }
            for m in result.measurements
        ],
    }
    version = dona.adopt_phase(
        catalog, chosen.phase, chosen.config_dict, evidence, merchant=merchant
    )
    return result, version
