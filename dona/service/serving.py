"""Serving: the live version of each catalog loaded (and verified) once, and ranking."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dona.catalog import TEXT_RECIPE
from dona.config import Settings
from dona.embed import Embedder
from dona.index import VECTORS, VectorIndex, phases, read_manifest
from dona.index.lexical import BM25Index
from dona.search import Filters, Hit, Mode, hybrid_fusion
from dona.store import Store
from dona.store.rows import CatalogVersionRow


@dataclass
class ServedVersion:
    """Everything a live catalog version needs in memory to answer queries."""

    version_id: int
    number: int
    directory: Path
    manifest: dict[str, Any]
    dense: VectorIndex
    lexical: BM25Index
    facets: dict[str, np.ndarray]
    vectors: np.ndarray  # memory-mapped float32 (exact reference)

    @property
    def catalog(self) -> str:
        return self.manifest["catalog"]


class ServedVersions:
    """One loaded `ServedVersion` per catalog, replaced when the live version changes."""

    def __init__(self, store: Store):
        self.store = store
        self._served: dict[str, ServedVersion] = {}
        self._lock = threading.Lock()

    def get(self, name: str, embedder: Embedder) -> ServedVersion:
        live = self.store.live_version(name)
        current = self._served.get(name)
        if current is not None and current.version_id == live.id:
            return current
        with self._lock:
            current = self._served.get(name)
            if current is None or current.version_id != live.id:
                current = self.load(name, live, embedder)
                self._served[name] = current
        return current

    def put(self, name: str, served: ServedVersion) -> None:
        with self._lock:
            self._served[name] = served

    def load(self, catalog: str, row: CatalogVersionRow, embedder: Embedder) -> ServedVersion:
        """Load a version's files, refusing any that do not match their manifest."""
        directory = Path(row.index_dir or "")
        manifest = read_manifest(
            directory,
            expect={
                "catalog": catalog,
                "catalog_version": row.id,
                "embedder": embedder.model_id,
                "count": row.product_count,
                "text_recipe": TEXT_RECIPE,
            },
        )
        dense = phases.create(manifest["phase"]).load(directory, manifest)
        return ServedVersion(
            version_id=row.id,
            number=row.number,
            directory=directory,
            manifest=manifest,
            dense=dense,
            lexical=BM25Index.load(directory, manifest["count"]),
            facets=self.store.facets(row.id),
            vectors=np.load(directory / VECTORS, mmap_mode="r"),
        )


def rank(
    served: ServedVersion,
    query: str,
    k: int,
    filters: Filters,
    mode: Mode,
    embedder: Embedder,
    settings: Settings,
) -> tuple[list[Hit], dict[str, float]]:
    """Positions of a served version ranked for a query, with per-stage timings (ms)."""
    timings: dict[str, float] = {}
    allowed = filters.mask(served.facets)
    depth = max(k, settings.fusion_depth)
    rankings: dict[str, np.ndarray] = {}
    scores: dict[str, np.ndarray] = {}
    if mode in ("hybrid", "dense"):
        t0 = time.perf_counter()
        qvec = embedder.embed_query(query)
        timings["embed"] = (time.perf_counter() - t0) * 1000
        t0 = time.perf_counter()
        rankings["dense"], scores["dense"] = served.dense.search(qvec, depth, allowed)
        timings["dense"] = (time.perf_counter() - t0) * 1000
    if mode in ("hybrid", "lexical"):
        t0 = time.perf_counter()
        rankings["bm25"], scores["bm25"] = served.lexical.search(query, depth, allowed)
        timings["bm25"] = (time.perf_counter() - t0) * 1000
    t0 = time.perf_counter()
    if mode == "hybrid":
        hits = hybrid_fusion(rankings, settings)[:k]
    else:
        name = next(iter(rankings))
        hits = [
            Hit(int(p), float(s), {name: i + 1})
            for i, (p, s) in enumerate(zip(rankings[name][:k], scores[name][:k], strict=True))
        ]
    timings["fusion"] = (time.perf_counter() - t0) * 1000
    return hits, timings
