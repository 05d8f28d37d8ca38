"""The vector index seam: one registered implementation per quantization phase.

Every catalog version keeps its float32 vectors as a memory-mappable ``vectors.f32.npy``
(the exact reference, and what later phases rescore from) plus the phase's own files. The
manifest beside them records the resolved configuration and file checksums and is
verified on load, so an index built by another model, phase or catalog is refused.

usearch's Python `search` has no filter predicate, so filtered queries either search a
small candidate subset exactly or oversample the graph and filter, growing the
oversampling until enough matches are found (falling back to exact search).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from dona.errors import IndexIntegrityError
from dona.registry import Registry

MANIFEST = "manifest.json"
VECTORS = "vectors.f32.npy"
MANIFEST_FORMAT = 1
EXACT_SUBSET_LIMIT = 4096  # filtered candidate sets up to this size are searched exactly


class VectorIndex(Protocol):
    """A built, loaded index over positions 0..count-1 of a catalog version."""

    phase: str
    count: int

    def search(
        self, query: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (positions, cosine-like scores, best first); `allowed` is a boolean mask."""
        ...


class IndexBuilder(Protocol):
    phase: str

    def build(self, vectors: np.ndarray, directory: Path, threads: int) -> dict[str, Any]:
        """Write the phase's files into `directory`; return its part of the manifest."""
        ...

    def load(self, directory: Path, manifest: dict[str, Any]) -> VectorIndex: ...


phases: Registry[IndexBuilder] = Registry("index phase", "dona.index_phases")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def exact_search(
    vectors: np.ndarray, query: np.ndarray, k: int, allowed: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Brute-force cosine (vectors are normalised) over all rows or the allowed ones."""
    if allowed is not None:
        candidates = np.flatnonzero(allowed)
        if candidates.size == 0:
            return np.empty(0, np.int64), np.empty(0, np.float32)
        scores = np.asarray(vectors[candidates] @ query, dtype=np.float32)
    else:
        candidates = None
        scores = np.asarray(vectors @ query, dtype=np.float32)
    k = min(k, scores.shape[0])
    top = np.argpartition(-scores, k - 1)[:k] if k < scores.shape[0] else np.arange(scores.shape[0])
    top = top[np.argsort(-scores[top], kind="stable")]
    positions = candidates[top] if candidates is not None else top
    return positions.astype(np.int64), scores[top]


@dataclass
class F32Index:
    """Phase 1: a float32 HNSW graph (usearch, cosine), memory-mapped read-only."""

    index: Any
    vectors: np.ndarray  # memory-mapped float32, row = position
    phase: str = "f32"

    @property
    def count(self) -> int:
        return int(self.vectors.shape[0])

    def search(
        self, query: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        query = np.asarray(query, dtype=np.float32)
        k = min(k, self.count)
        if k <= 0:
            return np.empty(0, np.int64), np.empty(0, np.float32)
        if allowed is None:
            return self._graph_search(query, k)
        n_allowed = int(allowed.sum())
        if n_allowed <= max(EXACT_SUBSET_LIMIT, k):
            return exact_search(self.vectors, query, k, allowed)
        # Oversample in proportion to how selective the filter is, doubling until enough.
        want = int(k * self.count / n_allowed * 2) + k
        while want < self.count:
            positions, scores = self._graph_search(query, want)
            keep = allowed[positions]
            if keep.sum() >= k:
                return positions[keep][:k], scores[keep][:k]
            want *= 2
        return exact_search(self.vectors, query, k, allowed)

    def _graph_search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        matches = self.index.search(query, k)
        positions = np.asarray(matches.keys, dtype=np.int64)
        scores = 1.0 - np.asarray(matches.distances, dtype=np.float32)  # cos distance -> similarity
        return positions, scores


@phases.register("f32")
class F32Builder:
    phase = "f32"
    index_file = "index.f32.usearch"

    def build(self, vectors: np.ndarray, directory: Path, threads: int) -> dict[str, Any]:
        from usearch.index import Index

        index = Index(ndim=vectors.shape[1], metric="cos", dtype="f32")
        if len(vectors):
            index.add(np.arange(len(vectors), dtype=np.uint64), vectors, threads=threads)
        index.save(str(directory / self.index_file))
        return {"dtype": "f32", "metric": "cos", "files": [self.index_file]}

    def load(self, directory: Path, manifest: dict[str, Any]) -> VectorIndex:
        from usearch.index import Index

        index = Index.restore(str(directory / self.index_file), view=True)
        if index is None:
            raise IndexIntegrityError(f"{directory / self.index_file} is not a usearch index")
        return F32Index(index=index, vectors=load_vectors(directory))


def load_vectors(directory: Path) -> np.ndarray:
    return np.load(directory / VECTORS, mmap_mode="r")


def save_vectors(vectors: np.ndarray, directory: Path) -> None:
    np.save(directory / VECTORS, np.ascontiguousarray(vectors, dtype=np.float32))


def write_manifest(directory: Path, manifest: dict[str, Any]) -> None:
    """Checksums every listed file, then writes the manifest last (its presence marks a
    complete build) via a rename so a reader never sees half a manifest."""
    manifest = dict(manifest)
    manifest["format"] = MANIFEST_FORMAT
    manifest["checksums"] = {
        name: sha256_file(directory / name) for name in sorted(manifest.get("files", []))
    }
    tmp = directory / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True))
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    tmp.replace(directory / MANIFEST)


def read_manifest(
    directory: Path, expect: dict[str, Any], verify_checksums: bool = True
) -> dict[str, Any]:
    """Load and check a manifest; `expect` holds values that must match (model id, dims,
    catalog version, count...). Raises `IndexIntegrityError` with what differs."""
    path = directory / MANIFEST
    if not path.exists():
        raise IndexIntegrityError(
            f"the index at {directory} has no manifest (an interrupted build?); re-ingest the catalog"
        )
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise IndexIntegrityError(f"the index manifest {path} is corrupt ({exc})") from None
    if manifest.get("format") != MANIFEST_FORMAT:
        raise IndexIntegrityError(
            f"the index at {directory} has manifest format {manifest.get('format')!r}, "
            f"this DONA reads {MANIFEST_FORMAT}; re-ingest the catalog"
        )
    for key, wanted in expect.items():
        if manifest.get(key) != wanted:
            raise IndexIntegrityError(
                f"the index at {directory} was built with {key}={manifest.get(key)!r} but "
                f"{wanted!r} is configured; re-ingest the catalog (or restore the setting)"
            )
    if verify_checksums:
        for name, digest in manifest.get("checksums", {}).items():
            file = directory / name
            if not file.exists():
                raise IndexIntegrityError(f"index file {file} is missing; re-ingest the catalog")
            if sha256_file(file) != digest:
                raise IndexIntegrityError(
                    f"index file {file} does not match its manifest checksum (modified or "
                    "truncated); re-ingest the catalog"
                )
    return manifest
