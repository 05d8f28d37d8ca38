"""Serving: the live version of each catalog loaded (and verified) once, and ranking.

A version's files are checksummed once, when it is loaded, never per request. A live
version whose files fail that check is not retried on every request either: shoppers
are served the newest earlier kept version that passes (and the merchant finds a line
about it in the catalog's ingest history) until the live pointer changes."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dona.catalog import TEXT_RECIPE
from dona.catalog.language import DEFAULT_LANGUAGE
from dona.config import Settings
from dona.embed import Embedder, get_embedder
from dona.errors import IndexIntegrityError
from dona.index import VECTORS, VectorIndex, phases, read_manifest
from dona.index.bridge import BridgedQuery, TermBridge
from dona.index.lexical import BM25Index
from dona.search import BRIDGED, Filters, Hit, Mode, hybrid_fusion
from dona.store import Store
from dona.store.rows import READY, CatalogVersionRow

log = logging.getLogger("dona.serving")


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
    # the number of the live version this one stands in for, when that one is damaged
    fallback_for: int | None = None
    bridge: TermBridge | None = None  # other languages' words -> this catalog's words
    brand_words: frozenset[str] = frozenset()  # never bridged

    @property
    def catalog(self) -> str:
        return self.manifest["catalog"]

    @property
    def language(self) -> str:
        return self.manifest.get("language", DEFAULT_LANGUAGE)

    def bridged(self, query: str) -> BridgedQuery:
        """The query in the catalog's words (unchanged when it has nothing to bridge)."""
        if self.bridge is None:
            return BridgedQuery(query, query)
        return self.bridge.bridge(
            query,
            self.brand_words,
            together=lambda words: self.lexical.count_with_all(" ".join(words)),
        )


class ServedVersions:
    """One loaded `ServedVersion` per catalog, replaced when the live version changes."""

    def __init__(self, store: Store, settings: Settings):
        self.store = store
        self.settings = settings
        # catalog -> (id of the live version it answers for, what is served)
        self._served: dict[str, tuple[int, ServedVersion]] = {}
        # catalog -> (live version id, why neither it nor any kept version loads)
        self._broken: dict[str, tuple[int, str]] = {}
        self._lock = threading.Lock()

    def get(self, name: str, embedder: Embedder) -> ServedVersion:
        live = self.store.live_version(name)
        entry = self._served.get(name)
        if entry is not None and entry[0] == live.id:
            return entry[1]
        with self._lock:
            entry = self._served.get(name)
            if entry is not None and entry[0] == live.id:
                return entry[1]
            broken = self._broken.get(name)
            if broken is not None and broken[0] == live.id:
                # checked once already: no re-hashing per request (a new exception each
                # time: re-raising one object would grow its traceback without end)
                raise IndexIntegrityError(broken[1])
            try:
                served = self.load(name, live, embedder)
            except IndexIntegrityError as exc:
                served = self._fallback(name, live, embedder, exc)
            self._served[name] = (live.id, served)
            self._broken.pop(name, None)
        return served

    def put(self, name: str, served: ServedVersion) -> None:
        """A version just made live (rollback), already loaded and verified."""
        with self._lock:
            self._served[name] = (served.version_id, served)
            self._broken.pop(name, None)

    def _fallback(
        self, name: str, live: CatalogVersionRow, embedder: Embedder, error: IndexIntegrityError
    ) -> ServedVersion:
        """The newest earlier kept version whose files pass, else a later one (after a
        rollback); `error` again when none does."""
        kept = [
            v
            for v in self.store.versions(name)
            if v.id != live.id and v.status == READY and v.index_dir
        ]
        kept.sort(key=lambda v: (v.number > live.number, -v.number))
        for row in kept:
            try:
                served = self.load(name, row, embedder)
            except IndexIntegrityError:
                continue
            served.fallback_for = live.number
            message = (
                f"version {live.number} cannot be served ({error}); shoppers are served "
                f"version {row.number} instead until you restore a version or upload the "
                "catalog again"
            )
            log.error("catalog %r: %s", name, message)
            self.store.record_event(name, "damaged", message)
            return served
        message = (
            f"version {live.number} cannot be served ({error}) and no kept version can stand "
            "in for it; upload the catalog again"
        )
        log.error("catalog %r: %s", name, message)
        self.store.record_event(name, "damaged", message)
        self._broken[name] = (live.id, str(error))
        raise error

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
        facets = self.store.facets(row.id)
        lexical = manifest.get("lexical", {"language": DEFAULT_LANGUAGE})
        return ServedVersion(
            version_id=row.id,
            number=row.number,
            directory=directory,
            manifest=manifest,
            dense=dense,
            lexical=BM25Index.load(directory, manifest["count"], lexical["language"]),
            facets=facets,
            vectors=np.load(directory / VECTORS, mmap_mode="r"),
            bridge=self._bridge(directory, manifest),
            brand_words=frozenset(
                word for brand in set(facets["brand"]) for word in str(brand).split()
            ),
        )

    def _bridge(self, directory: Path, manifest: dict[str, Any]) -> TermBridge | None:
        part = manifest.get("bridge")
        if part is None or not self.settings.cross_lingual:
            return None
        embedder = get_embedder(self.settings, part["request"]["embedder"])
        if embedder.model_id != part["embedder"]:
            raise IndexIntegrityError(
                f"the language bridge was built with {part['embedder']!r} but "
                f"{part['request']['embedder']!r} is now {embedder.model_id!r}; re-ingest the "
                "catalog"
            )
        return TermBridge.load(directory, part, embedder, self.settings.bridge_min_similarity)


def rank(
    served: ServedVersion,
    query: str,
    k: int,
    filters: Filters,
    mode: Mode,
    embedder: Embedder,
    settings: Settings,
    bridged: BridgedQuery | None = None,
) -> tuple[list[Hit], dict[str, float]]:
    """Positions of a served version ranked for a query, with per-stage timings (ms).

    The query is first put in the catalog's words (`bridged`, computed here unless given);
    when that changed it, hybrid ranking fuses both forms (`hybrid_fusion`), the single
    modes use the bridged form."""
    timings: dict[str, float] = {}
    if bridged is None:
        t0 = time.perf_counter()
        bridged = served.bridged(query)
        if served.bridge is not None:
            timings["bridge"] = (time.perf_counter() - t0) * 1000
    forms = {"": query}
    if bridged.changed:
        forms = {"": query, BRIDGED: bridged.text} if mode == "hybrid" else {BRIDGED: bridged.text}
    allowed = filters.mask(served.facets)
    depth = max(k, settings.fusion_depth)
    rankings: dict[str, np.ndarray] = {}
    scores: dict[str, np.ndarray] = {}
    timings.update(embed=0.0, dense=0.0, bm25=0.0)
    for suffix, text in forms.items():
        if mode in ("hybrid", "dense"):
            t0 = time.perf_counter()
            qvec = embedder.embed_query(text)
            timings["embed"] += (time.perf_counter() - t0) * 1000
            t0 = time.perf_counter()
            rankings["dense" + suffix], scores["dense" + suffix] = served.dense.search(
                qvec, depth, allowed
            )
            timings["dense"] += (time.perf_counter() - t0) * 1000
        if mode in ("hybrid", "lexical"):
            t0 = time.perf_counter()
            rankings["bm25" + suffix], scores["bm25" + suffix] = served.lexical.search(
                text, depth, allowed
            )
            timings["bm25"] += (time.perf_counter() - t0) * 1000
    timings = {name: ms for name, ms in timings.items() if ms or name == "bridge"}
    t0 = time.perf_counter()
    if mode == "hybrid":
        hits = hybrid_fusion(rankings, settings)[:k]
    else:
        name = next(iter(rankings))
        hits = [
            Hit(int(p), float(s), {name.removesuffix(BRIDGED): i + 1})
            for i, (p, s) in enumerate(zip(rankings[name][:k], scores[name][:k], strict=True))
        ]
    timings["fusion"] = (time.perf_counter() - t0) * 1000
    return hits, timings
