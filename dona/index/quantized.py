"""What the quantized phases (2-3b: `int8`, `binary`, `matryoshka`, one module each)
share: calibration samples, sealed configuration, first-pass stages and rescoring.

A builder's constructor kwargs are its configuration (`phases.create("int8",
rescore_multiplier=8)`). `build` resolves it from the catalog vectors (calibrated ranges,
binarisation thresholds, a PCA rotation) and returns the manifest part
``{"dtype", "metric", "config", "config_sha256", "files"}``. `load` rebuilds the index from
the manifest alone, never from the builder's kwargs, and refuses a configuration that
does not match its digest or no longer reproduces the stored codes: the file checksums
cover the codes, the digest covers the numbers kept in the manifest itself.

Every index serves the same `search(query, k, allowed)` as phase 1 and shares its
filtered-search loop (`base.filtered_search`); first-pass candidates come from an
HNSW graph (usearch) or a flat scan, and are optionally rescored, either in RAM
(asymmetric int8) or from the memory-mapped float32 vectors (`vectors.f32.npy`).

Memory accounting (`ram_bytes`): numpy arrays held in RAM count their `.nbytes`; a usearch
index loaded into RAM counts its serialized length (graph + stored vectors). usearch's own
`memory_usage` reports reserved arena capacity instead (e.g. the same ~3.4 KB/vector for
a 5,000-vector b1 or i8 index), while the resident set measured on load is within
~60-90 B/vector of the serialized length (the key lookup table).

Defaults, measured on chorus_icecat dev with all-MiniLM-L6-v2 (f32 exact nDCG@10 0.6094):
- int8: per-dimension min/max ranges (`clip_percentile=0`): asymmetric exact scoring loses
  nothing, overlap@10 with f32 0.992 (0.1/99.9 percentiles: 0.981; 1/99: 0.936); the
  graph compares int8 codes by cosine (symmetric cos ranks -4%, symmetric ip -11%).
- binary: thresholds at the per-dimension catalog mean (`center=True`): same nDCG@10 as
  sign bits after rescoring x4 but Recall@100 0.838 vs 0.809; a flat Hamming scan
  (`index="flat"`, 48 B/vector for 384-d) because an HNSW b1 graph costs ~200 B/vector.
- matryoshka: PCA axes of the centred catalog, applied to the uncentred vectors, prefix
  normalised: 192 dims -3.0% nDCG@10 (subtracting the mean first: -6.2%; no rotation:
  -6.9%).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from dona.errors import ConfigError, IndexIntegrityError
from dona.index.base import (
    EXPANSION_ADD,
    EXPANSION_SEARCH,
    VECTORS,
    filtered_search,
    graph_ranking,
    phase_part,
    top_k,
    usearch_index_class,
)

CHUNK = 65536  # rows encoded at a time (bounds the temporary float32 copies)
CALIBRATION_SAMPLE = 200_000  # rows used to calibrate ranges / thresholds / rotations
VERIFY_ROWS = 64  # rows re-encoded on load to check the manifest still matches the codes

Ranking = tuple[np.ndarray, np.ndarray]


# ---- helpers ------------------------------------------------------------------------


def _empty() -> Ranking:
    return np.empty(0, np.int64), np.empty(0, np.float32)


def normalise(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return (x / np.where(norms > 0, norms, 1)).astype(np.float32, copy=False)


def calibration_sample(vectors: np.ndarray, limit: int = CALIBRATION_SAMPLE) -> np.ndarray:
    """A deterministic sample of rows (all of them for catalogs up to `limit`)."""
    n = len(vectors)
    if n <= limit:
        return np.asarray(vectors, dtype=np.float32)
    rows = np.sort(np.random.default_rng(0).choice(n, limit, replace=False))
    return np.asarray(vectors[rows], dtype=np.float32)


def encode_all(encode: Callable[[np.ndarray], np.ndarray], vectors: np.ndarray) -> np.ndarray:
    parts = [
        encode(np.asarray(vectors[start : start + CHUNK], dtype=np.float32))
        for start in range(0, len(vectors), CHUNK)
    ]
    if parts:
        return np.concatenate(parts)
    return encode(np.zeros((0, vectors.shape[1]), dtype=np.float32))


def _verify_rows(count: int) -> np.ndarray:
    return np.unique(np.linspace(0, max(count - 1, 0), min(count, VERIFY_ROWS)).astype(np.int64))


def as_floats(values: np.ndarray) -> list[float]:
    return [float(v) for v in np.asarray(values, dtype=np.float32)]


def config_array(values: Any, name: str, dims: int) -> np.ndarray:
    array = np.asarray(values, dtype=np.float32)
    if array.shape != (dims,):
        raise IndexIntegrityError(
            f"the manifest's {name} has shape {array.shape}, expected ({dims},); "
            "re-ingest the catalog"
        )
    return array


def config_choice(name: str, value: Any, allowed: tuple) -> Any:
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(map(repr, allowed))}, not {value!r}")
    return value


def config_multiplier(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"rescore_multiplier must be a positive integer, not {value!r}")
    return value


def _config_digest(phase: str, part: dict[str, Any]) -> str:
    payload = {
        "phase": phase,
        "dtype": part["dtype"],
        "metric": part["metric"],
        "config": part["config"],
        "files": sorted(part["files"]),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def seal_part(phase: str, part: dict[str, Any]) -> dict[str, Any]:
    part["config_sha256"] = _config_digest(phase, part)
    return part


def open_part(phase: str, directory: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """The phase part of `manifest` (full or part), checked against its digest."""
    if manifest.get("phase", phase) != phase:
        raise IndexIntegrityError(
            f"the index at {directory} is phase {manifest.get('phase')!r}, not {phase!r}"
        )
    part = phase_part(manifest)
    if not isinstance(part.get("config"), dict) or "config_sha256" not in part:
        raise IndexIntegrityError(
            f"the index at {directory} has no {phase} configuration in its manifest; "
            "re-ingest the catalog"
        )
    if _config_digest(phase, part) != part["config_sha256"]:
        raise IndexIntegrityError(
            f"the {phase} configuration in the manifest at {directory} does not match its "
            "checksum (edited?); re-ingest the catalog"
        )
    return part


def restore_usearch(path: Path, view: bool = False) -> Any:
    Index = usearch_index_class()

    if not path.exists():
        raise IndexIntegrityError(f"index file {path} is missing; re-ingest the catalog")
    index = Index.restore(str(path), view=view)
    if index is None:
        raise IndexIntegrityError(f"{path} is not a usearch index")
    index.expansion_search = EXPANSION_SEARCH
    return index


def build_graph(vectors: np.ndarray, ndim: int, metric: str, dtype: str, threads: int) -> Any:
    Index = usearch_index_class()

    index = Index(ndim=ndim, metric=metric, dtype=dtype, expansion_add=EXPANSION_ADD)
    if len(vectors):
        index.add(np.arange(len(vectors), dtype=np.uint64), vectors, threads=max(threads, 1))
    return index


def graph_vectors(graph: Any, positions: np.ndarray, width: int, dtype: Any) -> np.ndarray:
    if positions.size == 0:
        return np.zeros((0, width), dtype=dtype)
    return np.stack(graph.get(positions.astype(np.uint64)))


# ---- codecs and first-pass stages ---------------------------------------------------


class F32Stage:
    """Normalised float32 vectors (a Matryoshka prefix) in a usearch cos graph in RAM."""

    files = ("index.prefix.f32.usearch",)

    def __init__(self, graph: Any, dims: int):
        self.graph, self.dims, self.exhaustive = graph, dims, False

    @classmethod
    def build(cls, vectors: np.ndarray, directory: Path, threads: int) -> F32Stage:
        graph = build_graph(vectors, vectors.shape[1], "cos", "f32", threads)
        graph.save(str(directory / cls.files[0]))
        return cls(graph, vectors.shape[1])

    @classmethod
    def load(cls, directory: Path, dims: int) -> F32Stage:
        return cls(restore_usearch(directory / cls.files[0], view=False), dims)

    def encode(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x, dtype=np.float32)

    def stored(self, positions: np.ndarray) -> np.ndarray:
        return graph_vectors(self.graph, positions, self.dims, np.float32)

    def candidates(self, query: np.ndarray, n: int) -> Ranking:
        positions, distances = graph_ranking(self.graph.search(query, n))
        return positions, 1.0 - distances.astype(np.float32)

    def score(self, query: np.ndarray, positions: np.ndarray) -> np.ndarray:
        return np.asarray(self.stored(positions) @ query, dtype=np.float32)

    def ram_bytes(self) -> int:
        return int(self.graph.serialized_length)

    def __len__(self) -> int:
        return len(self.graph)


# ---- the served index ---------------------------------------------------------------


class QuantizedIndex:
    """A first-pass stage (graph or flat scan over codes) plus optional rescoring.

    `rescore`: None (first-pass order and scores), "stage" (the stage's exact scoring of
    the top k x multiplier candidates, e.g. asymmetric int8, in RAM) or "f32" (exact cosine
    of the top k x multiplier from the memory-mapped float32 vectors).
    """

    phase = "quantized"

    def __init__(
        self,
        stage: Any,
        *,
        directory: Path,
        files: list[str],
        rescore: str | None,
        multiplier: int,
        vectors: np.ndarray | None = None,
        project: Callable[[np.ndarray], np.ndarray] | None = None,
        extra_ram: int = 0,
    ):
        self.stage, self.directory, self.files = stage, directory, files
        self.rescore, self.multiplier = rescore, multiplier
        self.vectors, self.project, self.extra_ram = vectors, project, extra_ram
        if rescore == "f32" and vectors is None:
            raise ValueError("rescoring from float32 needs the vectors")

    @property
    def count(self) -> int:
        return len(self.stage)

    def search(
        self, query: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        query = np.asarray(query, dtype=np.float32)
        k = min(k, self.count)
        if k <= 0:
            return _empty()
        q = self.project(query) if self.project is not None else query
        depth = min(self.count, k * self.multiplier) if self.rescore else k

        def finish(positions: np.ndarray, scores: np.ndarray, k: int) -> Ranking:
            if self.rescore == "f32":
                scores = np.asarray(self.vectors[positions] @ query, dtype=np.float32)
            elif self.rescore == "stage":
                scores = self.stage.score(q, positions)
            top = top_k(scores, k)
            return positions[top], scores[top]

        def subset_search(subset: np.ndarray, k: int) -> Ranking:
            if subset.size == 0:
                return _empty()
            scores = self.stage.score(q, subset)  # the phase's own scoring, exactly
            if self.rescore == "f32":
                top = top_k(scores, depth)
                return finish(subset[top], scores[top], k)
            top = top_k(scores, k)
            return subset[top], scores[top]

        if allowed is None:
            if depth >= self.count:  # a graph need not reach every node: score them all
                return subset_search(np.arange(self.count, dtype=np.int64), k)
            positions, scores = self.stage.candidates(q, depth)
            return finish(positions, scores, k)
        if self.stage.exhaustive:  # a flat scan: scanning only the allowed rows is cheaper
            return subset_search(np.flatnonzero(allowed), k)
        return filtered_search(
            self.count,
            k,
            allowed,
            candidates=lambda n: self.stage.candidates(q, min(n, self.count)),
            finish=finish,
            subset_search=subset_search,
            depth=depth,
        )

    def ram_bytes(self) -> int:
        return self.stage.ram_bytes() + self.extra_ram

    def disk_bytes(self) -> int:
        total = sum(os.path.getsize(self.directory / name) for name in self.files)
        if self.rescore == "f32":
            total += os.path.getsize(self.directory / VECTORS)
        return total

    def verify(self, vectors: np.ndarray, encode: Callable[[np.ndarray], np.ndarray]) -> None:
        """Re-encode a few rows with the manifest's configuration; they must reproduce the
        stored codes (catches a manifest whose ranges/thresholds/dims were edited)."""
        if len(vectors) != self.count:
            raise IndexIntegrityError(
                f"the {self.phase} index at {self.directory} holds {self.count} vectors, "
                f"{VECTORS} has {len(vectors)}; re-ingest the catalog"
            )
        rows = _verify_rows(self.count)
        expected = encode(np.asarray(vectors[rows], dtype=np.float32))
        stored = self.stage.stored(rows)
        same = (
            np.allclose(stored, expected, rtol=1e-5, atol=1e-6)
            if stored.dtype == np.float32
            else np.array_equal(stored, expected)
        )
        if stored.shape != expected.shape or not same:
            raise IndexIntegrityError(
                f"the {self.phase} codes at {self.directory} do not match the configuration "
                "in the manifest (edited or mixed files); re-ingest the catalog"
            )
