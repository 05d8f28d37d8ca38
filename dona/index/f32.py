"""Phase 1: float32 vectors in a usearch HNSW graph (exact scan for small catalogs)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dona.errors import IndexIntegrityError
from dona.index.base import (
    EXACT_SUBSET_LIMIT,
    EXPANSION_ADD,
    EXPANSION_SEARCH,
    VECTORS,
    VectorIndex,
    exact_search,
    exact_subset,
    filtered_search,
    graph_ranking,
    load_vectors,
    phase_part,
    phases,
    usearch_index_class,
)

if TYPE_CHECKING:
    from dona.config import Settings


@dataclass
class F32Index:
    """Phase 1: a float32 HNSW graph (usearch, cosine), memory-mapped read-only.

    Memory accounting: phase 1 serves float32 from memory, so the whole usearch file
    (graph + float32 vectors, as mapped) counts as hot RAM even though it is a mapping;
    `vectors.f32.npy` is disk, read only by filtered (exact subset) searches.
    """

    index: Any
    vectors: np.ndarray  # memory-mapped float32, row = position
    phase: str = "f32"
    index_path: Path | None = None

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
        if allowed is None and self.count > EXACT_SUBSET_LIMIT:
            return self._graph_search(query, k)
        if allowed is None:
            return exact_search(self.vectors, query, k)
        return filtered_search(
            self.count,
            k,
            allowed,
            candidates=lambda n: self._graph_search(query, n),
            finish=lambda positions, scores, k: (positions[:k], scores[:k]),
            subset_search=lambda subset, k: exact_subset(self.vectors, query, k, subset),
        )

    def _graph_search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        positions, distances = graph_ranking(self.index.search(query, k))
        return positions, 1.0 - distances.astype(np.float32)  # cos distance -> similarity

    def ram_bytes(self) -> int:
        """The float32 graph file, counted as hot (see the class docstring)."""
        if self.index_path is not None:
            return os.path.getsize(self.index_path)
        return int(self.index.serialized_length)

    def disk_bytes(self) -> int:
        """The graph file plus `vectors.f32.npy` (exact subset search reads it)."""
        if self.index_path is None:
            return int(self.index.serialized_length) + int(self.vectors.nbytes)
        return os.path.getsize(self.index_path) + os.path.getsize(self.index_path.parent / VECTORS)


class F32Builder:
    phase = "f32"
    index_file = "index.f32.usearch"

    def build(self, vectors: np.ndarray, directory: Path, threads: int) -> dict[str, Any]:
        Index = usearch_index_class()

        index = Index(ndim=vectors.shape[1], metric="cos", dtype="f32", expansion_add=EXPANSION_ADD)
        if len(vectors):
            index.add(np.arange(len(vectors), dtype=np.uint64), vectors, threads=threads)
        index.save(str(directory / self.index_file))
        return {"dtype": "f32", "metric": "cos", "config": {}, "files": [self.index_file]}

    def load(self, directory: Path, manifest: dict[str, Any]) -> VectorIndex:
        Index = usearch_index_class()

        files = phase_part(manifest).get("files", [self.index_file])
        if self.index_file not in files:
            raise IndexIntegrityError(f"the index at {directory} has no {self.index_file}")
        path = directory / self.index_file
        index = Index.restore(str(path), view=True)
        if index is None:
            raise IndexIntegrityError(f"{path} is not a usearch index")
        index.expansion_search = EXPANSION_SEARCH
        return F32Index(index=index, vectors=load_vectors(directory), index_path=path)


@phases.register(
    "f32", "phase 1: float32 vectors in an HNSW graph (the baseline, 1,536 B/vector at 384-d)"
)
def f32_phase(settings: Settings | None = None, **config: Any) -> F32Builder:
    """The `f32` builder; `config` is its configuration (see `F32Builder`)."""
    return F32Builder(**config)
