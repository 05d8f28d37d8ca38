"""The evaluation harness, gate, floors and autopilot. A deliberately lossy test phase
isolates the harness logic; the real phases are measured on the demo catalog in CI
(`make gate`), against the committed floors checked here."""

import json

import numpy as np
import pytest
from conftest import CATALOG, REPO

from dona.errors import DonaError
from dona.eval.harness import (
    BASELINE,
    HALVES,
    Candidate,
    EvaluationResult,
    Measurement,
    autopilot,
    evaluate_phases,
    load_floors,
    load_query_set,
    paired_bootstrap_drop,
    probe_queries,
    query_half,
    split_half,
    write_outputs,
)
from dona.eval.metrics import LabelledQueries, load_labelled_queries
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


# ---- halves: the autopilot chooses on A, the gate confirms on B ------------------------

DEV_QUERIES = REPO / "evals/datasets/chorus_icecat/queries_dev.tsv"
DEV_LABELS = REPO / "evals/datasets/chorus_icecat/labels_dev.tsv"


def test_the_dev_split_halves_are_fixed_and_disjoint():
    dev = load_labelled_queries(DEV_QUERIES, DEV_LABELS)
    a, b = split_half(dev, "A"), split_half(dev, "B")
    assert set(a.queries) | set(b.queries) == set(dev.queries)
    assert not set(a.queries) & set(b.queries)
    assert a.labels == {q: dev.labels[q] for q in a.queries if q in dev.labels}
    # by query id, not by position: today's halves (50 / 52 queries, 44 / 41 judged)
    assert (len(a.queries), len(b.queries)) == (50, 52)
    assert (len(a.judged()), len(b.judged())) == (44, 41)
    assert [query_half(q) for q in ("q001", "q002", "q003")] == ["A", "B", "A"]
    assert set(HALVES) == {"A", "B"}
    with pytest.raises(DonaError, match="--half must be A or B"):
        split_half(dev, "C")


def test_a_half_is_named_in_the_dataset(shop):
    data, dataset, label_free = load_query_set(shop, None, DEV_QUERIES, DEV_LABELS, half="B")
    assert dataset == "chorus_icecat, half B" and not label_free and len(data.queries) == 52
    with pytest.raises(DonaError, match="--half splits labelled queries"):
        load_query_set(shop, None, None, None, half="A")


def measured(candidate, mode, drop, high):
    return Measurement(
        candidate=candidate,
        mode=mode,
        per_query={"ndcg@10": np.array([0.5])},
        latencies_ms=np.array([1.0]),
        ram_bytes_per_vector=10.0,
        disk_bytes_per_vector=10.0,
        manifest_config={},
        drop={"ndcg@10": drop, "recall@10": 0.0, "recall@100": 0.0},
        drop_ci={"ndcg@10": (0.0, high), "recall@10": (0.0, 0.0), "recall@100": (0.0, 0.0)},
    )


def test_a_confident_choice_wants_the_whole_interval_under_the_threshold():
    lucky = Candidate.of("test-lossy", noise=0.5)
    rows = [measured(lucky, "dense", 0.01, 0.06), measured(lucky, "hybrid", 0.0, 0.0)]

    def result(confident):
        return EvaluationResult("d", 1, 1, 0, False, 0.03, rows, None, 1.0, confident)

    assert result(False).gate_failures(lucky) == []
    (failure,) = result(True).gate_failures(lucky)
    assert failure == (
        "phase test-lossy(noise=0.5) (dense) drops ndcg@10 by 1.0%, up to 6.0% in its "
        "95% interval (limit 3%)"
    )
    assert "upper end of the 95% interval" in result(True).rule


def test_confident_autopilot_keeps_f32_when_only_a_lucky_candidate_passes(shop):
    slightly = Candidate.of("test-lossy", noise=0.07)
    plain, _ = autopilot(shop, None, queries(shop), "probes", True, candidates=[slightly])
    confident, version = autopilot(
        shop, None, queries(shop), "probes", True, candidates=[slightly], confident=True
    )
    m = plain.find(slightly, "dense")
    # measured on these probes: a small drop whose interval reaches past 3%
    assert m.drop["ndcg@10"] < 0.03 <= m.drop_ci["ndcg@10"][1]
    assert plain.adopted.candidate == slightly
    assert confident.adopted.candidate == BASELINE and version is not None
    assert shop.served().manifest["quantization"]["confident"] is True


# ---- absolute floors --------------------------------------------------------------------


def test_floors_are_named_and_compare_only_on_their_query_set(shop, tmp_path):
    data = queries(shop)
    result = evaluate_phases(shop, None, data, "shop, half B", [])
    floors_file = tmp_path / "floors.json"
    floors_file.write_text(
        json.dumps(
            {
                "dataset": "shop",
                "half": "B",
                "floors": {
                    "hybrid nDCG@10": {"mode": "hybrid", "metric": "ndcg@10", "min": 0.01},
                    "dense Recall@100": {"mode": "dense", "metric": "recall@100", "min": 1.01},
                },
            }
        )
    )
    floors = load_floors(floors_file)
    checked = {floor.name: holds for floor, _, holds in floors.check(result, BASELINE)}
    assert checked == {"hybrid nDCG@10": True, "dense Recall@100": False}
    (failure,) = floors.failures(result, BASELINE)
    assert failure.startswith("floor 'dense Recall@100' broken: f32 (dense) recall@100 ")
    assert failure.endswith(f"< 1.0100 ({floors_file})")
    other = evaluate_phases(shop, None, data, "shop, half A", [])
    with pytest.raises(DonaError, match="set on shop, half B; evaluate that query set"):
        floors.check(other, BASELINE)


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "cannot read the floors file"),
        ("{", "is not JSON"),
        ('{"dataset": "d", "floors": {}}', "needs {'dataset'"),
        ('{"dataset": "d", "floors": {"x": {"mode": "sparse", "metric": "ndcg@10", "min": 1}}}',
         "needs {'dataset'"),
        ('{"dataset": "d", "floors": {"x": {"mode": "dense", "metric": "ndcg@10"}}}',
         "needs {'dataset'"),
    ],
)  # fmt: skip
def test_bad_floors_files_are_plain_errors(tmp_path, content, message):
    path = tmp_path / "floors.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(DonaError, match=message):
        load_floors(path)


def test_the_committed_floors():
    """evals/floors.json is what `make gate` and `make eval-ci` hold CI to."""
    floors = load_floors(REPO / "evals/floors.json")
    assert floors.dataset == "chorus_icecat, half B"
    assert {(f.name, f.mode, f.metric) for f in floors.floors} == {
        ("dense nDCG@10", "dense", "ndcg@10"),
        ("dense Recall@100", "dense", "recall@100"),
        ("hybrid nDCG@10", "hybrid", "ndcg@10"),
        ("hybrid Recall@100", "hybrid", "recall@100"),
    }
    raw = json.loads((REPO / "evals/floors.json").read_text())
    for floor in raw["floors"].values():  # each below the figure it was set from
        assert floor["min"] <= floor["ci95"][0] < floor["f32"] < floor["ci95"][1]
    chat = raw["chat"]
    assert chat["model"] == "qwen2.5-1.5b" and chat["backend"] == "llamacpp"
    assert chat["questions_from"] == "evals/datasets/chorus_icecat/llm_questions.jsonl"
    assert set(chat["min"]) == {"correct", "grounded", "nothing_fits_ok", "language_ok"}


# ---- PostgreSQL: adopt, roll back, prune ------------------------------------------------


@pytest.mark.postgres
def test_adopt_rollback_and_prune_on_postgresql(settings, postgres_db):
    from dona.service import Dona
    from dona.store.store import Store

    store = Store(postgres_db)
    assert store.engine.dialect.name == "postgresql"
    service = Dona(settings.model_copy(update={"keep_versions": 2}), store=store)
    try:
        service.ingest_bytes(CATALOG + MORE, filename="shop.csv")
        lossless = Candidate.of("test-lossy", noise=0.0)
        result, version = autopilot(
            service, None, queries(service), "probes", True, candidates=[lossless]
        )
        assert result.adopted.candidate == lossless and version == 2
        assert service.index_setting(None).phase == "test-lossy"
        assert service.rollback(None, 1) == 1
        assert service.index_setting(None).phase == "f32"
        assert service.served().manifest["phase"] == "f32"
        first_dir = service.settings.index_root / "default" / "v00001"
        for _ in range(3):  # the next ingests build with f32 and prune to two versions
            service.ingest_bytes(CATALOG + MORE, filename="shop.csv")
        rows = service.versions()
        assert [(r.version, r.status) for r in rows[:2]] == [(5, "live"), (4, "ready")]
        assert [r.status for r in rows[2:]] == ["retired"] * 3
        assert not first_dir.exists()  # pruned files are gone, rows too
        assert service.search("portable", k=1, mode="lexical").results[0].product.id == "s1"
    finally:
        service.close()
