import json
import shutil

import numpy as np
import pytest

import dona.index.base as vi
from dona.errors import ConfigError, IndexIntegrityError
from dona.index.binary import PackedCodes
from dona.index.matryoshka import Projection
from dona.index.quantized import seal_part


def embedding_like(n, dims=48, rank=10, seed=0):
    """Shaped like sentence embeddings: a shared offset, a few strong directions with
    decaying variance, some noise; unit norm."""
    rng = np.random.default_rng(seed)
    basis = rng.normal(size=(rank, dims))
    weights = rng.normal(size=(n, rank)) * np.linspace(3.0, 0.5, rank)
    offset = 1.5 * rng.normal(size=dims)
    x = weights @ basis + 0.4 * rng.normal(size=(n, dims)) + offset
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


CONFIGS = [
    ("int8", {}),
    ("int8", {"rescore": "f32"}),
    ("int8", {"symmetric": True}),
    ("int8", {"metric": "ip", "clip_percentile": 0.5}),
    ("binary", {}),
    ("binary", {"rescore": False}),
    ("binary", {"index": "hnsw", "center": False}),
    ("matryoshka", {"dims": 24}),
    ("matryoshka", {"dims": 24, "rotation": "native", "rescore": True}),
    ("matryoshka", {"dims": 24, "quantization": "int8"}),
    ("matryoshka", {"dims": 24, "whiten": 0.1}),
    ("matryoshka", {"dims": 32, "quantization": "binary", "rescore": True}),
]
IDS = [f"{phase}-{'-'.join(f'{k}={v}' for k, v in config.items())}" for phase, config in CONFIGS]
N = 800


def build(directory, vectors, phase, **config):
    """Build like the service does; returns (the phase part, the full manifest as read)."""
    directory.mkdir(parents=True, exist_ok=True)
    vi.save_vectors(vectors, directory)
    part = vi.phases.create(phase, **config).build(vectors, directory, threads=2)
    manifest = {
        "phase": phase,
        "phase_config": part,
        "count": int(len(vectors)),
        "files": [vi.VECTORS, *part["files"]],
    }
    vi.write_manifest(directory, manifest)
    return part, vi.read_manifest(directory, expect={"phase": phase})


CORPUS = embedding_like(N + 12)  # the last 12 rows are held out as queries


@pytest.fixture(scope="module")
def vectors():
    return CORPUS[:N]


@pytest.fixture(scope="module")
def queries():
    return CORPUS[N:]


@pytest.fixture(scope="module", params=CONFIGS, ids=IDS)
def built(request, tmp_path_factory, vectors):
    phase, config = request.param
    directory = tmp_path_factory.mktemp(phase)
    part, manifest = build(directory, vectors, phase, **config)
    index = vi.phases.create(phase).load(directory, manifest)
    return phase, config, directory, part, manifest, index


def test_manifest_part_shape(built):
    phase, config, directory, part, manifest, index = built
    assert {"dtype", "metric", "config", "files", "config_sha256"} <= set(part)
    for key, value in config.items():
        expected = "none" if key == "symmetric" and value else value
        assert part["config"][key if key != "symmetric" else "rescore"] == expected
    assert json.loads(json.dumps(part)) == part  # plain JSON
    assert index.phase == phase and index.count == N
    assert all((directory / name).exists() for name in part["files"])


def test_round_trip_search_is_identical(built, queries, tmp_path):
    phase, _, directory, part, manifest, index = built
    before = [index.search(q, 10) for q in queries]
    copy = tmp_path / "copy"
    shutil.copytree(directory, copy)
    reloaded = vi.phases.create(phase).load(copy, vi.read_manifest(copy, {"phase": phase}))
    from_part = vi.phases.create(phase).load(copy, part)  # a bare phase part loads too
    for q, (positions, scores) in zip(queries, before, strict=True):
        assert positions.dtype == np.int64 and len(positions) == 10
        assert np.all(np.diff(scores) <= 1e-6)  # best first
        for other in (reloaded, from_part):
            again, again_scores = other.search(q, 10)
            np.testing.assert_array_equal(again, positions)
            np.testing.assert_allclose(again_scores, scores, rtol=1e-6)


def test_load_uses_the_manifest_not_the_constructor(built):
    phase, _, directory, part, manifest, index = built
    other = {"int8": {"rescore": "f32"}, "binary": {"rescore": False}, "matryoshka": {"dims": 8}}
    loaded = vi.phases.create(phase, **other[phase]).load(directory, manifest)
    assert (loaded.rescore, loaded.multiplier) == (index.rescore, index.multiplier)
    assert loaded.ram_bytes() == index.ram_bytes()


@pytest.mark.parametrize("subset_limit", [vi.EXACT_SUBSET_LIMIT, 10])
def test_filtered_search_only_returns_allowed(built, queries, monkeypatch, subset_limit):
    monkeypatch.setattr(vi, "EXACT_SUBSET_LIMIT", subset_limit)  # exercise both paths
    index = built[-1]
    rng = np.random.default_rng(1)
    for fraction in (0.005, 0.05, 0.5):
        allowed = rng.random(N) < fraction
        for q in queries[:4]:
            positions, scores = index.search(q, 10, allowed)
            assert allowed[positions].all()
            assert len(positions) == min(10, int(allowed.sum()))
            assert len(set(positions.tolist())) == len(positions)
            assert np.all(np.diff(scores) <= 1e-6)
    none = index.search(queries[0], 10, np.zeros(N, dtype=bool))
    assert none[0].size == 0 and none[1].size == 0


def test_filtered_graph_path_agrees_with_exact_subset(built, queries, monkeypatch):
    """Oversample-and-filter finds (nearly) what scoring the allowed subset exactly finds."""
    index = built[-1]
    allowed = np.random.default_rng(2).random(N) < 0.4
    overlap = []
    for q in queries:
        monkeypatch.setattr(vi, "EXACT_SUBSET_LIMIT", 10)
        graph, _ = index.search(q, 10, allowed)
        monkeypatch.setattr(vi, "EXACT_SUBSET_LIMIT", 4096)
        exact, _ = index.search(q, 10, allowed)
        overlap.append(len(set(graph.tolist()) & set(exact.tolist())) / 10)
    assert np.mean(overlap) >= 0.9


def test_quality_close_to_exact_float32(built, vectors, queries):
    """A sanity floor on overlap@10 with exact float32 (real-data figures are measured by
    the evaluation harness): unrescored first passes are weak, and 32 PCA bits of
    rank-10 data are mostly noise bits."""
    phase, config, *_, index = built
    weak = config.get("symmetric") or (phase == "binary" and not config.get("rescore", True))
    quantized_prefix = phase == "matryoshka" and config.get("quantization", "f32") != "f32"
    overlap = []
    for q in queries:
        exact, _ = vi.exact_search(vectors, q, 10)
        positions, _ = index.search(q, 10)
        overlap.append(len(set(exact.tolist()) & set(positions.tolist())) / 10)
    assert np.mean(overlap) >= (0.15 if quantized_prefix else 0.4 if weak else 0.8)


# ---- rescoring is exact when it covers everything --------------------------------------


@pytest.mark.parametrize(
    "phase,config",
    [
        ("binary", {"rescore_multiplier": N}),
        ("binary", {"rescore_multiplier": N, "index": "hnsw"}),
        ("int8", {"rescore": "f32", "rescore_multiplier": N}),
        ("matryoshka", {"dims": 16, "rescore": True, "rescore_multiplier": N}),
    ],
)
def test_full_coverage_rescoring_equals_brute_force(tmp_path, vectors, queries, phase, config):
    _, manifest = build(tmp_path, vectors, phase, **config)
    index = vi.phases.create(phase).load(tmp_path, manifest)
    for q in queries:
        positions, scores = index.search(q, 10)
        exact, exact_scores = vi.exact_search(vectors, q, 10)
        np.testing.assert_array_equal(positions, exact)
        np.testing.assert_allclose(scores, exact_scores, rtol=1e-5, atol=1e-6)


def test_int8_asymmetric_scores_equal_dequantised_dot(tmp_path, vectors, queries):
    _, manifest = build(tmp_path, vectors, "int8", rescore_multiplier=N)
    index = vi.phases.create("int8").load(tmp_path, manifest)
    codec = index.stage.codec
    dequantised = codec.decode(np.load(tmp_path / "codes.i8.npy"))
    assert np.abs(dequantised - vectors).max() <= (codec.high - codec.low).max() / 255
    for q in queries:
        positions, scores = index.search(q, 10)
        brute = dequantised @ q
        expected = np.argsort(-brute, kind="stable")[:10]
        np.testing.assert_array_equal(positions, expected)
        np.testing.assert_allclose(scores, brute[expected], rtol=1e-4, atol=1e-5)


# ---- persisted calibration / rotation ---------------------------------------------------


def test_int8_calibration_persists(tmp_path, vectors):
    part, manifest = build(tmp_path, vectors, "int8")
    config = manifest["phase_config"]["config"]
    np.testing.assert_array_equal(np.asarray(config["low"], np.float32), vectors.min(axis=0))
    np.testing.assert_array_equal(np.asarray(config["high"], np.float32), vectors.max(axis=0))
    index = vi.phases.create("int8").load(tmp_path, manifest)
    codes = np.load(tmp_path / "codes.i8.npy")
    np.testing.assert_array_equal(index.stage.codes, codes)
    np.testing.assert_array_equal(index.stage.codec.encode(vectors), codes)  # identical codes
    assert not isinstance(index.stage.codes, np.memmap)  # in RAM
    assert codes.min() == -128 and codes.max() == 127


def test_binary_threshold_persists(tmp_path, vectors):
    _, manifest = build(tmp_path, vectors, "binary", center=True)
    threshold = np.asarray(manifest["phase_config"]["config"]["threshold"], np.float32)
    np.testing.assert_allclose(threshold, vectors.mean(axis=0), atol=1e-6)
    index = vi.phases.create("binary").load(tmp_path, manifest)
    expected = np.packbits(vectors > threshold, axis=1)
    np.testing.assert_array_equal(index.stage.stored(np.arange(len(vectors))), expected)
    np.testing.assert_array_equal(np.load(tmp_path / "codes.b1.npy"), expected)


@pytest.mark.parametrize("bits", [384, 192, 100, 7])
def test_column_major_scan_equals_row_hamming(vectors, bits):
    rng = np.random.default_rng(bits)
    codes = rng.integers(0, 256, size=(300, (bits + 7) // 8), dtype=np.uint8)
    packed = PackedCodes.from_rows(codes)
    query = rng.integers(0, 256, size=codes.shape[1], dtype=np.uint8)
    expected = np.unpackbits(codes ^ query, axis=1).sum(axis=1)
    np.testing.assert_array_equal(packed.hamming(query), expected)
    np.testing.assert_array_equal(packed.rows(np.array([0, 5, 299])), codes[[0, 5, 299]])
    assert len(packed) == 300 and packed.nbytes == 300 * -(-codes.shape[1] // 8) * 8


def test_pca_rotation_persists(tmp_path, vectors):
    part, manifest = build(tmp_path, vectors, "matryoshka", dims=20)
    assert "rotation.f32.npy" in part["files"]
    assert "rotation.f32.npy" in manifest["checksums"]
    index = vi.phases.create("matryoshka").load(tmp_path, manifest)
    fresh = Projection.pca(vectors, 20, center=False)
    np.testing.assert_array_equal(index.project.components, fresh.components)
    np.testing.assert_array_equal(index.project.mean, fresh.mean)
    components = index.project.components
    np.testing.assert_allclose(components @ components.T, np.eye(20), atol=1e-5)
    centred = vectors - vectors.mean(axis=0)
    variance = (centred @ components.T).var(axis=0)
    assert np.all(np.diff(variance) <= 1e-7)  # ordered by variance
    prefix = index.stage.stored(np.arange(5))
    np.testing.assert_allclose(prefix, fresh(vectors[:5]), atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(prefix, axis=1), 1.0, atol=1e-5)


def test_whitened_axes_are_scaled_pca_axes(tmp_path, vectors):
    part, manifest = build(tmp_path, vectors, "matryoshka", dims=20, whiten=0.25)
    assert part["config"]["whiten"] == 0.25
    index = vi.phases.create("matryoshka").load(tmp_path, manifest)
    plain = Projection.pca(vectors, 20, center=False).components
    scaled = index.project.components
    scale = np.linalg.norm(scaled, axis=1)
    assert scale.max() == pytest.approx(1.0, abs=1e-6)
    assert np.all(np.diff(scale) >= -1e-6)  # low-variance axes damped least
    np.testing.assert_allclose(scaled / scale[:, None], plain, atol=1e-5)
    variance = ((vectors - vectors.mean(axis=0)) @ plain.T).var(axis=0, ddof=1)
    expected = variance**-0.25
    np.testing.assert_allclose(scale, expected / expected.max(), rtol=1e-3)
    assert "whiten" not in build(tmp_path / "plain", vectors, "matryoshka", dims=20)[0]["config"]


def test_native_prefix_is_the_normalised_first_dims(tmp_path, vectors):
    part, manifest = build(tmp_path, vectors, "matryoshka", dims=16, rotation="native")
    assert "rotation.f32.npy" not in part["files"]
    index = vi.phases.create("matryoshka").load(tmp_path, manifest)
    first = vectors[:3, :16] / np.linalg.norm(vectors[:3, :16], axis=1, keepdims=True)
    np.testing.assert_allclose(index.stage.stored(np.arange(3)), first, atol=1e-6)


# ---- tampering ----------------------------------------------------------------------------


def rewrite_manifest(directory, edit):
    manifest = json.loads((directory / vi.MANIFEST).read_text())
    edit(manifest)
    (directory / vi.MANIFEST).write_text(json.dumps(manifest))
    return vi.read_manifest(directory, {})  # the files themselves are untouched


@pytest.mark.parametrize(
    "phase,edit",
    [
        ("int8", lambda c: c["low"].__setitem__(0, c["low"][0] - 0.05)),
        ("int8", lambda c: c.__setitem__("rescore", "f32")),
        ("binary", lambda c: c["threshold"].__setitem__(3, 0.5)),
        ("matryoshka", lambda c: c.__setitem__("dims", 8)),
    ],
)
def test_edited_phase_config_is_refused(tmp_path, vectors, phase, edit):
    build(tmp_path, vectors, phase)
    manifest = rewrite_manifest(tmp_path, lambda m: edit(m["phase_config"]["config"]))
    with pytest.raises(IndexIntegrityError, match="does not match its checksum"):
        vi.phases.create(phase).load(tmp_path, manifest)


def test_edited_calibration_with_a_fixed_digest_is_still_refused(tmp_path, vectors):
    """Even with a recomputed digest, the ranges must reproduce the stored codes."""
    build(tmp_path, vectors, "int8")

    def edit(manifest):
        part = manifest["phase_config"]
        part["config"]["high"] = [h + 0.1 for h in part["config"]["high"]]
        seal_part("int8", part)

    manifest = rewrite_manifest(tmp_path, edit)
    with pytest.raises(IndexIntegrityError, match="do not match the configuration"):
        vi.phases.create("int8").load(tmp_path, manifest)


def test_edited_codes_are_refused_by_checksum(tmp_path, vectors):
    build(tmp_path, vectors, "binary")
    codes = np.load(tmp_path / "codes.b1.npy")
    codes[0] ^= 1
    np.save(tmp_path / "codes.b1.npy", codes)
    with pytest.raises(IndexIntegrityError, match="does not match its manifest checksum"):
        vi.read_manifest(tmp_path, {})


def test_manifest_of_another_phase_is_refused(tmp_path, vectors):
    _, manifest = build(tmp_path, vectors, "binary")
    with pytest.raises(IndexIntegrityError, match="is phase 'binary', not 'int8'"):
        vi.phases.create("int8").load(tmp_path, manifest)
    with pytest.raises(IndexIntegrityError, match="no int8 configuration"):
        vi.phases.create("int8").load(tmp_path, {"files": []})


# ---- configuration --------------------------------------------------------------------


def test_config_validation_and_aliases():
    assert vi.phases.create("int8", symmetric=True).config["rescore"] == "none"
    assert vi.phases.create("int8", rescore="none").config["symmetric"] is True
    for phase, bad in [
        ("int8", {"rescore": "fp16"}),
        ("int8", {"rescore_multiplier": 0}),
        ("int8", {"metric": "l2"}),
        ("int8", {"clip_percentile": 60}),
        ("binary", {"index": "ivf"}),
        ("matryoshka", {"rotation": "random"}),
        ("matryoshka", {"quantization": "pq"}),
        ("matryoshka", {"dims": 0}),
        ("matryoshka", {"whiten": 0.9}),
        ("matryoshka", {"whiten": 0.1, "rotation": "native"}),
    ]:
        with pytest.raises(ConfigError):
            vi.phases.create(phase, **bad)
    with pytest.raises(TypeError):
        vi.phases.create("binary", dims=3)


def test_dims_above_the_model_are_clamped(tmp_path, vectors):
    part, manifest = build(tmp_path, vectors, "matryoshka", dims=4096)
    assert part["config"]["dims"] == vectors.shape[1]
    index = vi.phases.create("matryoshka").load(tmp_path, manifest)
    exact, _ = vi.exact_search(vectors, vectors[3], 5)
    assert index.search(vectors[3], 5)[0][0] == exact[0]


def test_tiny_and_empty_catalogs(tmp_path):
    one = embedding_like(1)
    for phase in ("int8", "binary", "matryoshka"):
        _, manifest = build(tmp_path / phase, one, phase)
        index = vi.phases.create(phase).load(tmp_path / phase, manifest)
        positions, _ = index.search(one[0], 10)
        assert positions.tolist() == [0]
    empty = np.zeros((0, 48), np.float32)
    for phase in ("int8", "binary", "matryoshka"):
        _, manifest = build(tmp_path / f"empty-{phase}", empty, phase)
        index = vi.phases.create(phase).load(tmp_path / f"empty-{phase}", manifest)
        assert index.count == 0 and index.search(one[0], 10)[0].size == 0


# ---- memory accounting ----------------------------------------------------------------


def test_memory_accounting_orders_the_phases(tmp_path):
    n = 3000
    vectors = embedding_like(n, dims=384, rank=40, seed=3)
    loaded = {}
    for phase, config in [("f32", {}), ("int8", {}), ("binary", {}), ("matryoshka", {"dims": 96})]:
        _, manifest = build(tmp_path / phase, vectors, phase, **config)
        loaded[phase] = vi.phases.create(phase).load(tmp_path / phase, manifest)
    ram = {phase: index.ram_bytes() for phase, index in loaded.items()}
    disk = {phase: index.disk_bytes() for phase, index in loaded.items()}
    assert all(value > 0 for value in [*ram.values(), *disk.values()])
    assert ram["binary"] < ram["int8"] < ram["f32"]
    assert ram["matryoshka"] < ram["f32"]
    assert ram["binary"] / n <= 64  # 48 B of codes per 384-d vector, no graph
    assert ram["int8"] >= n * 384  # the codes, at least
    assert ram["f32"] >= n * 384 * 4
    # binary rescoring reads the float32 vectors from disk; int8 (in-RAM rescoring) does not
    assert disk["binary"] >= n * 384 * 4 > disk["int8"]
