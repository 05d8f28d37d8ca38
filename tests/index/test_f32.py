import json

import numpy as np
import pytest

import dona.index.base as vi
from dona.errors import IndexIntegrityError


def random_unit_vectors(n, dims=32, seed=0):
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(n, dims)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.fixture
def built(tmp_path):
    vectors = random_unit_vectors(6000)  # above EXACT_SUBSET_LIMIT: the graph is searched
    vi.save_vectors(vectors, tmp_path)
    part = vi.phases.create("f32").build(vectors, tmp_path, threads=2)
    manifest = {
        "embedder": "m1",
        "count": 6000,
        "phase": "f32",
        "files": [vi.VECTORS, *part["files"]],
    }
    vi.write_manifest(tmp_path, manifest)
    return tmp_path, vectors


def test_round_trip_matches_exact_search(built):
    directory, vectors = built
    manifest = vi.read_manifest(directory, expect={"embedder": "m1", "count": 6000})
    index = vi.phases.create("f32").load(directory, manifest)
    assert index.count == 6000
    for q in range(20):
        positions, scores = index.search(vectors[q], 10)
        exact, exact_scores = vi.exact_search(vectors, vectors[q], 10)
        assert positions[0] == q and scores[0] == pytest.approx(1.0, abs=1e-5)
        assert len(set(positions) & set(exact)) >= 9  # HNSW is approximate
        np.testing.assert_allclose(np.sort(scores)[::-1], scores)


def build_f32(vectors, directory):
    vi.save_vectors(vectors, directory)
    vi.phases.create("f32").build(vi.load_vectors(directory), directory, threads=2)
    return vi.phases.create("f32").load(directory, {"files": ["index.f32.usearch"]})


def test_graph_ranks_ties_in_position_order(tmp_path):
    """Equal scores come back in position order, as exact search orders them, whatever
    order the multi-threaded graph build linked the duplicates in."""
    distinct = random_unit_vectors(1000, seed=3)
    vectors = np.repeat(distinct, 5, axis=0)  # every product listed five times
    index = build_f32(vectors[np.random.default_rng(1).permutation(len(vectors))], tmp_path)
    assert index.count > vi.EXACT_SUBSET_LIMIT
    for q in range(0, 1000, 50):
        positions, scores = index.search(distinct[q], 15)
        for score in np.unique(scores):
            tied = positions[scores == score]
            np.testing.assert_array_equal(tied, np.sort(tied))


def test_small_catalog_is_searched_exactly(tmp_path):
    distinct = random_unit_vectors(40, seed=3)
    vectors = np.repeat(distinct, 5, axis=0)
    vectors = vectors[np.random.default_rng(1).permutation(len(vectors))]
    index = build_f32(vectors, tmp_path)
    for q in range(40):
        positions, scores = index.search(distinct[q], 15)
        exact, exact_scores = vi.exact_search(vectors, distinct[q], 15)
        np.testing.assert_array_equal(positions, exact)
        np.testing.assert_allclose(scores, exact_scores)


@pytest.mark.parametrize("subset_limit", [vi.EXACT_SUBSET_LIMIT, 10])
def test_filtered_search_only_returns_allowed(built, monkeypatch, subset_limit):
    monkeypatch.setattr(vi, "EXACT_SUBSET_LIMIT", subset_limit)  # exercise both paths
    directory, vectors = built
    index = vi.phases.create("f32").load(directory, vi.read_manifest(directory, {}))
    rng = np.random.default_rng(1)
    for fraction in (0.002, 0.05, 0.5):
        allowed = rng.random(len(vectors)) < fraction
        q = random_unit_vectors(1, seed=int(fraction * 1000))[0]
        positions, _ = index.search(q, 10, allowed)
        assert allowed[positions].all()
        exact, _ = vi.exact_search(vectors, q, 10, allowed)
        assert len(positions) == min(10, allowed.sum())
        assert len(set(positions) & set(exact)) >= min(9, len(exact))


def test_empty_filter_result(built):
    directory, vectors = built
    index = vi.phases.create("f32").load(directory, vi.read_manifest(directory, {}))
    positions, scores = index.search(vectors[0], 10, np.zeros(len(vectors), dtype=bool))
    assert positions.size == 0 and scores.size == 0


def test_manifest_from_another_model_is_refused(built):
    directory, _ = built
    with pytest.raises(IndexIntegrityError, match="embedder='m1' but 'm2' is configured"):
        vi.read_manifest(directory, expect={"embedder": "m2"})


def test_tampered_or_missing_files_are_refused(built):
    directory, _ = built
    (directory / vi.VECTORS).write_bytes(b"truncated")
    with pytest.raises(IndexIntegrityError, match="does not match its manifest checksum"):
        vi.read_manifest(directory, {})
    (directory / vi.VECTORS).unlink()
    with pytest.raises(IndexIntegrityError, match="missing"):
        vi.read_manifest(directory, {})


def test_missing_or_corrupt_manifest(built):
    directory, _ = built
    manifest = json.loads((directory / vi.MANIFEST).read_text())
    (directory / vi.MANIFEST).write_text(json.dumps({**manifest, "format": 99}))
    with pytest.raises(IndexIntegrityError, match="manifest format 99"):
        vi.read_manifest(directory, {})
    (directory / vi.MANIFEST).write_text("{not json")
    with pytest.raises(IndexIntegrityError, match="corrupt"):
        vi.read_manifest(directory, {})
    (directory / vi.MANIFEST).unlink()
    with pytest.raises(IndexIntegrityError, match="no manifest"):
        vi.read_manifest(directory, {})


def test_onnxruntime_can_load_after_an_index_is_opened(tmp_path):
    """onnxruntime segfaults when imported after usearch; the ONNX embedder loads lazily,
    after serving has opened an index, so the index modules import it first."""
    import subprocess
    import sys

    code = (
        "import dona.index.base as vi\nvi.usearch_index_class()\nimport onnxruntime\nprint('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-500:]
