"""The vector index seam: one registered implementation per quantization phase.

Every catalog version keeps its float32 vectors as a memory-mappable ``vectors.f32.npy``
(the exact reference, and what later phases rescore from) plus the phase's own files. The
manifest beside them records the resolved configuration and file checksums and is
verified on load, so an index built by another model, phase or catalog is refused.

usearch's Python `search` has no filter predicate, so filtered queries either search a
small candidate subset exactly or oversample the graph and filter, growing the
oversampling until enough matches are found (falling back to exact search); every phase
shares that loop (`filtered_search`). Each phase is its own module (`f32`, `int8`,
`binary`, `matryoshka`), registered with `phases` the way a plugin would be
(`dona.plugins`); this module imports none of them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from dona.errors import IndexIntegrityError
from dona.registry import Registry

MANIFEST = "manifest.json"
VECTORS = "vectors.f32.npy"
MANIFEST_FORMAT = 1
# Candidate sets up to this size (a filtered subset, or a whole small catalog) are scanned
# exactly: as fast as the graph at this size, and exact. A graph also cannot reach every
# copy of a product listed several times (duplicate vectors crowd each other's links).
EXACT_SUBSET_LIMIT = 4096
# HNSW search breadth (usearch uses max(this, k)). usearch's default, 64, is too narrow for
# short queries against product texts: on chorus_icecat dev the f32 graph found 93% of the
# exact top 100 and lost 4.7% nDCG@10; 256 finds 98% and loses nothing, for ~0.7 ms.
EXPANSION_SEARCH = 256
# HNSW build breadth (usearch default 128). Graphs built with 128 varied from build to
# build by up to 3% dense nDCG@10 on chorus_icecat dev (a small cluster left unreachable);
# 256 for every phase's graph, for about twice the build time.
EXPANSION_ADD = 256


class VectorIndex(Protocol):
    """A built, loaded index over positions 0..count-1 of a catalog version."""

    phase: str
    count: int

    def search(
        self, query: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (positions, cosine-like scores, best first); `allowed` is a boolean mask."""
        ...

    def ram_bytes(self) -> int:
        """Bytes the index holds hot in RAM to serve (graph, codes, rotation...)."""
        ...

    def disk_bytes(self) -> int:
        """Bytes of the files the index reads (its own, plus the float32 vectors if it
        rescores from them)."""
        ...


class IndexBuilder(Protocol):
    phase: str

    def build(self, vectors: np.ndarray, directory: Path, threads: int) -> dict[str, Any]:
        """Write the phase's files into `directory`; return its part of the manifest."""
        ...

    def load(self, directory: Path, manifest: dict[str, Any]) -> VectorIndex: ...


phases: Registry[IndexBuilder] = Registry("index phase", "dona.index_phases")


def usearch_index_class():
    """usearch's `Index`, imported only after onnxruntime when that is installed:
    onnxruntime 1.31 segfaults when it is imported after usearch 2.26 (the ONNX embedder
    loads lazily, i.e. after an index has been opened)."""
    with contextlib.suppress(ImportError):
        import onnxruntime  # noqa: F401
    from usearch.index import Index

    return Index


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def phase_part(manifest: dict[str, Any]) -> dict[str, Any]:
    """The phase's own part of a manifest: `manifest["phase_config"]` of a full manifest
    (what the service passes to `load`), or the part itself when given one."""
    return manifest.get("phase_config", manifest)


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k highest scores, best first (equal scores in input order; which of
    several equal scores at the k-th place get in is arbitrary)."""
    k = min(k, scores.shape[0])
    if k <= 0:
        return np.empty(0, np.int64)
    if k < scores.shape[0]:
        top = np.argpartition(-scores, k - 1)[:k]
        top.sort()  # input order among equal scores, whatever argpartition did
    else:
        top = np.arange(scores.shape[0])
    return top[np.argsort(-scores[top], kind="stable")]


def graph_ranking(matches: Any) -> tuple[np.ndarray, np.ndarray]:
    """(positions, raw distances) of a usearch search, equal distances in position order.

    The graph returns ties in traversal order, which depends on how a multi-threaded
    build happened to link the nodes; duplicate products then swap places from build to
    build and the evaluation would measure noise."""
    positions = np.asarray(matches.keys, dtype=np.int64)
    distances = np.asarray(matches.distances)
    order = np.lexsort((positions, distances))
    return positions[order], distances[order]


def exact_search(
    vectors: np.ndarray, query: np.ndarray, k: int, allowed: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Brute-force cosine (vectors are normalised) over all rows or the allowed ones."""
    if allowed is not None:
        return exact_subset(vectors, query, k, np.flatnonzero(allowed))
    scores = np.asarray(vectors @ query, dtype=np.float32)
    top = top_k(scores, k)
    return top.astype(np.int64), scores[top]


def exact_subset(
    vectors: np.ndarray, query: np.ndarray, k: int, subset: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Brute-force cosine over the rows `subset` (sorted positions) only."""
    if subset.size == 0:
        return np.empty(0, np.int64), np.empty(0, np.float32)
    scores = np.asarray(vectors[subset] @ query, dtype=np.float32)
    top = top_k(scores, k)
    return subset[top].astype(np.int64), scores[top]


Ranking = tuple[np.ndarray, np.ndarray]  # (positions int64, scores), best first


def filtered_search(
    count: int,
    k: int,
    allowed: np.ndarray,
    candidates: Callable[[int], Ranking],
    finish: Callable[[np.ndarray, np.ndarray, int], Ranking],
    subset_search: Callable[[np.ndarray, int], Ranking],
    depth: int | None = None,
) -> Ranking:
    """The filtered search every phase shares (usearch has no filter predicate).

    `candidates(n)`: the phase's first pass, its top n positions over everything (graph
    order, first-pass scores). `finish(positions, scores, k)`: rescoring (if the phase
    rescores) and the top k. `subset_search(positions, k)`: the phase's own scoring
    restricted to a sorted set of positions. `depth`: how many allowed first-pass
    candidates the phase wants before finishing (k, or k x its rescore multiplier).

    A small allowed set (<= EXACT_SUBSET_LIMIT) is scored exactly; otherwise the first
    pass is oversampled in proportion to the filter's selectivity and filtered, doubling
    until `depth` allowed candidates are found, falling back to the exact subset.
    """
    allowed = np.asarray(allowed, dtype=bool)
    n_allowed = int(allowed.sum())
    depth = max(k, depth or k)
    if n_allowed <= max(EXACT_SUBSET_LIMIT, k):
        return subset_search(np.flatnonzero(allowed), k)
    want = int(depth * count / n_allowed * 2) + depth
    while want < count:
        positions, scores = candidates(want)
        keep = allowed[positions]
        if keep.sum() >= depth:
            return finish(positions[keep], scores[keep], k)
        want *= 2
    return subset_search(np.flatnonzero(allowed), k)


def link_or_copy(source: Path, target: Path) -> None:
    """Hard-link an immutable file into a new version (a copy across file systems)."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def load_vectors(directory: Path) -> np.ndarray:
    return np.load(directory / VECTORS, mmap_mode="r")


def save_vectors(vectors: np.ndarray, directory: Path) -> None:
    np.save(directory / VECTORS, np.ascontiguousarray(vectors, dtype=np.float32))


def write_manifest(
    directory: Path, manifest: dict[str, Any], known_checksums: dict[str, str] | None = None
) -> None:
    """Checksums every listed file, then writes the manifest last (its presence marks a
    complete build) via a rename so a reader never sees half a manifest.

    `known_checksums`: files hard-linked from a version whose manifest was just verified
    (the same bytes: not hashed twice)."""
    known = known_checksums or {}
    manifest = dict(manifest)
    manifest["format"] = MANIFEST_FORMAT
    manifest["checksums"] = {
        name: known.get(name) or sha256_file(directory / name)
        for name in sorted(manifest.get("files", []))
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
