"""The evaluation harness, gate and autopilot. A deliberately lossy test phase isolates
the harness logic; the real phases are measured on the demo catalog in CI (.ci/run)."""

import json

import numpy as np
import pytest
from conftest import CATALOG

from dona.errors import DonaError
from dona.eval.harness import (
    BASELINE,
    Candidate,
    autopilot,
    evaluate_phases,
    paired_bootstrap_drop,
    probe_queries,
    write_outputs,
)
from dona.eval.metrics import LabelledQueries
from dona.index import phases
from dona.index.f32 import F32Builder


class LossyBuilder(F32Builder):
    """f32 over vectors with noise added: a real, measurable quality loss, with a smaller
    claimed footprint so the harness has a cheaper candidate to consider."""

    phase = "test-lossy"

    def __init__(self, noise: float = 0.0):
        self.noise = noise

    def noisy(self, vectors):
        rng = np.random.default_rng(0)  # the same noise at build and load
        noisy = vectors + rng.normal(scale=self.noise, size=vectors.shape).astype(np.float32)
        return noisy / np.linalg.norm(noisy, axis=1, keepdims=True)

    def build(self, vectors, directory, threads):
        part = super().build(self.noisy(vectors), directory, threads)
        return {**part, "config": {"noise": self.noise}}

    def load(self, directory, manifest):
        self.noise = manifest["phase_config"]["config"]["noise"]
        index = super().load(directory, manifest)
        index.vectors = self.noisy(index.vectors)  # small catalogs are scanned exactly
        index.ram_bytes = lambda: 10 * index.count  # claims to be cheaper than f32
        return index


@pytest.fixture(autouse=True)
def lossy_phase():
    """The lossy phase exists for this module's tests only."""
    with phases.registered("test-lossy", lambda settings=None, **config: LossyBuilder(**config)):
        yield


MORE = b"".join(
    f"g{i},Gadget {w} {i},Brand{i % 4},{i}.00,{i % 3},Misc\n".encode()
    for i, w in enumerate(["red", "blue", "green", "mini", "pro", "max", "lite", "plus"] * 6)
)


@pytest.fixture
def shop(dona):
    dona.ingest_bytes(CATALOG + MORE, filename="shop.csv")
    return dona


def queries(dona) -> LabelledQueries:
    products = dona.store.all_products(dona.served().version_id)
    return probe_queries(products, n=40, seed=1)


def test_probe_queries_are_deterministic_known_items(shop):
    products = shop.store.all_products(shop.served().version_id)
    a, b = probe_queries(products, n=20, seed=3), probe_queries(products, n=20, seed=3)
    assert a.queries == b.queries and len(a.queries) == 20
    ids = {p.id for p in products}
    for qid, labels in a.labels.items():
        (pid,) = labels
        assert pid in ids and labels[pid] == 3 and a.queries[qid].strip()


def test_paired_bootstrap():
    base = np.array([1.0, 0.5, 0.8, 0.6])
    drop, (low, high) = paired_bootstrap_drop(base, base)
    assert drop == 0 and low == 0 and high == 0
    drop, (low, high) = paired_bootstrap_drop(base, base * 0.9)
    assert drop == pytest.approx(0.1) and low == pytest.approx(0.1) and high == pytest.approx(0.1)
    worse = base - np.array([0.5, 0.0, 0.0, 0.0])
    drop, (low, high) = paired_bootstrap_drop(base, worse)
    assert low <= drop <= high and low >= 0


def test_f32_against_itself_and_a_lossy_phase(shop, tmp_path):
    lossless = Candidate.of("test-lossy", noise=0.0)
    lossy = Candidate.of("test-lossy", noise=2.0)
    result = evaluate_phases(
        shop, None, queries(shop), "probes", [lossless, lossy], label_free=True
    )
    base = result.find(BASELINE, "dense")
    assert base.drop["ndcg@10"] == 0 and base.passes_gate
    same = result.find(lossless, "dense")  # same vectors; tie order may differ
    assert same.drop["ndcg@10"] < 0.03 and same.passes_gate
    bad = result.find(lossy, "dense")
    assert bad.drop["ndcg@10"] > 0.03 and not bad.passes_gate
    assert result.find(lossy, "hybrid").passes_gate is False  # a candidate fails as a whole
    assert result.adopted.candidate == lossless  # cheapest that passes
    failures = result.gate_failures(lossy)
    assert failures and "test-lossy(noise=2.0) (dense) drops ndcg@10" in failures[0]
    assert result.gate_failures(lossless) == []

    write_outputs(result, tmp_path / "r.json", tmp_path / "r.md", tmp_path / "r.png")
    payload = json.loads((tmp_path / "r.json").read_text())
    row = payload["results"][0]
    for key in (
        "phase",
        "config",
        "mode",
        "ndcg@10",
        "recall@10",
        "recall@100",
        "mrr@10",
        "overlap@10",
        "drop",
        "ram_bytes_per_vector",
        "disk_bytes_per_vector",
        "p50_ms",
        "p95_ms",
        "passes_gate",
    ):
        assert key in row
    assert payload["adopted"]["phase"] == "test-lossy" and payload["label_free"] is True
    assert "FAIL" in (tmp_path / "r.md").read_text()
    assert (tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG"


def test_autopilot_adopts_through_a_new_version(shop):
    before = shop.store.live_version("default")
    lossless, lossy = Candidate.of("test-lossy", noise=0.0), Candidate.of("test-lossy", noise=2.0)
    result, version = autopilot(
        shop, None, queries(shop), "probes", True, candidates=[lossy, lossless]
    )
    assert result.adopted.candidate == lossless and version == before.number + 1
    live = shop.store.live_version("default")
    assert live.phase == "test-lossy"
    manifest = shop.served().manifest
    assert (
        manifest["phase"] == "test-lossy" and manifest["quantization"]["adopted"] == lossless.label
    )
    assert len(shop.store.all_products(live.id)) == before.product_count
    assert shop.search("portable", k=1, mode="lexical").results[0].product.id == "s1"
    # the next ingest keeps the adopted phase
    shop.ingest_bytes(CATALOG, filename="shop.csv")
    assert shop.served().manifest["phase"] == "test-lossy"
    # nothing cheaper passes: only f32 and the lossy phase -> back to f32
    result, version = autopilot(shop, None, queries(shop), "probes", True, candidates=[lossy])
    assert result.adopted.candidate == BASELINE and shop.served().manifest["phase"] == "f32"


def test_autopilot_failure_keeps_the_live_version(shop, monkeypatch):
    before = shop.store.live_version("default")

    def explode(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("dona.service.versions.write_manifest", explode)
    with pytest.raises(OSError):
        autopilot(
            shop,
            None,
            queries(shop),
            "probes",
            True,
            candidates=[Candidate.of("test-lossy", noise=0.0)],
        )
    assert shop.store.live_version("default").id == before.id
    assert shop.store.catalog("default").phase == "f32"


def test_bad_query_sets(shop, tmp_path):
    from dona.eval.harness import load_query_set

    with pytest.raises(DonaError, match="both --queries and --labels"):
        load_query_set(shop, None, tmp_path / "q.tsv", None)
    with pytest.raises(DonaError, match="empty"):
        evaluate_phases(shop, None, LabelledQueries({}, {}), "none")
