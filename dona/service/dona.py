"""The application core used by the CLI and the UI: ingest a catalog into a new version,
switch it live atomically, and search the live version."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dona.accounts import Accounts
from dona.catalog import ParseOptions, ParseResult, Product, parse_catalog
from dona.config import Settings, get_settings
from dona.embedders import Embedder, get_embedder
from dona.errors import (
    CatalogFileError,
    CatalogNotFoundError,
    CatalogValidationError,
    ConfigError,
    DonaError,
    RowProblem,
)
from dona.lexical import BM25_FILES, BM25Index
from dona.search import Filters, Hit, Mode, clean_query, reciprocal_rank_fusion
from dona.storage import FAILED, READY, RETIRED, Store, text_hash
from dona.text import TEXT_RECIPE, product_text
from dona.vectorindex import (
    MANIFEST,
    VECTORS,
    VectorIndex,
    exact_search,
    phases,
    read_manifest,
    save_vectors,
    write_manifest,
)

StageProgress = Callable[[str, int, int], None]  # (stage, done, total)
CATALOG_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
INGEST_STAGES = ("parse", "store", "embed", "index")


def link_or_copy(source: Path, target: Path) -> None:
    """Hard-link an immutable file into a new version (a copy across file systems)."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def remove_version_dirs(final_dir: Path) -> None:
    """A failed version leaves no files: neither its build folder nor a renamed one."""
    shutil.rmtree(final_dir.with_name(final_dir.name + ".building"), ignore_errors=True)
    shutil.rmtree(final_dir, ignore_errors=True)


def _manifest_or_none(directory: Path | None) -> dict[str, Any] | None:
    """A previous version's manifest, for reuse decisions (its files are re-checksummed
    into the new manifest, so a damaged file cannot slip through)."""
    if directory is None:
        return None
    try:
        return json.loads((directory / MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def check_catalog_name(name: str) -> str:
    if not CATALOG_NAME_RE.match(name or ""):
        raise ConfigError(
            f"catalog name {name!r} is not allowed; use up to 64 letters, digits, '-' or '_'"
        )
    return name


@dataclass
class IngestReport:
    catalog: str
    version: int
    products: int
    rows_total: int
    skipped: list[RowProblem]
    embedded: int  # texts actually run through the model (cache misses)
    cached: int
    timings: dict[str, float]
    format: str
    mapped_columns: dict[str, str]

    @property
    def seconds(self) -> float:
        return sum(self.timings.values())


@dataclass
class SearchResult:
    product: Product
    score: float
    sources: dict[str, int] = field(default_factory=dict)
    position: int = -1  # row in the served version's vector files

    def to_dict(self) -> dict[str, Any]:
        p = self.product
        return {
            "id": p.id,
            "title": p.title,
            "brand": p.brand,
            "price": p.price,
            "currency": p.currency,
            "score": round(float(self.score), 6),
            "category": p.category,
            "description": p.description,
            "url": p.url,
            "image_url": p.image_url,
            "stock": p.stock,
            "matched_by": sorted(self.sources),
        }


@dataclass
class SearchResponse:
    query: str
    catalog: str
    version: int
    mode: str
    results: list[SearchResult]
    timings_ms: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "catalog": self.catalog,
            "version": self.version,
            "mode": self.mode,
            "results": [r.to_dict() for r in self.results],
        }


@dataclass
class ServedVersion:
    """Everything a live catalog version needs in memory to answer queries."""

    version_id: int
    number: int
    manifest: dict[str, Any]
    dense: VectorIndex
    lexical: BM25Index
    facets: dict[str, np.ndarray]
    vectors: np.ndarray  # memory-mapped float32 (exact reference)


class Dona:
    """One per process; thread-safe for searching."""

    def __init__(self, settings: Settings | None = None, store: Store | None = None):
        self.settings = settings or get_settings()
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.store = store or Store(self.settings.resolved_database_url)
        self.store.create_schema()
        self._served: dict[str, ServedVersion] = {}
        self._serve_lock = threading.Lock()

    @property
    def embedder(self) -> Embedder:
        return get_embedder(self.settings)

    @property
    def accounts(self) -> Accounts:
        return Accounts(
            self.store, self.settings.signin_max_failures, self.settings.signin_window_s
        )

    # ---- catalogs --------------------------------------------------------------------

    def resolve_catalog(self, name: str | None) -> str:
        """The named catalog; by default `DONA_CATALOG`, or the only catalog there is."""
        if name:
            return check_catalog_name(name)
        if self.store.catalog(self.settings.catalog) is None:
            existing = [c.name for c, live in self.store.catalogs() if live is not None]
            if len(existing) == 1:
                return existing[0]
            if not existing:
                raise CatalogNotFoundError(
                    "no catalog has been ingested yet; run 'dona ingest FILE' first"
                )
        return self.settings.catalog

    def catalogs(self) -> list[dict[str, Any]]:
        out = []
        for catalog, live in self.store.catalogs():
            out.append(
                {
                    "name": catalog.name,
                    "version": live.number if live else None,
                    "products": live.product_count if live else 0,
                    "phase": live.phase if live else None,
                    "embedder": live.embedder if live else None,
                    "updated": live.activated_at.isoformat()
                    if live and live.activated_at
                    else None,
                }
            )
        return out

    def brands(self, catalog: str | None = None) -> list[str]:
        """Brands of the live version (for filter pickers)."""
        return self.store.brands(self.store.live_version(self.resolve_catalog(catalog)).id)

    # ---- ingest -----------------------------------------------------------------------

    @contextmanager
    def _catalog_lock(self, name: str) -> Iterator[None]:
        """One ingest per catalog at a time (per data directory)."""
        lock_dir = self.settings.data_dir / "locks"
        lock_dir.mkdir(parents=True, exist_ok=True)
        with open(lock_dir / f"{name}.lock", "w") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise DonaError(
                    f"another ingest of catalog {name!r} is running; wait for it to finish"
                ) from None
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def ingest_file(self, path: str | Path, **kwargs: Any) -> IngestReport:
        path = Path(path)
        if not path.exists():
            raise CatalogFileError(f"no such file: {path}")
        if path.is_dir():
            raise CatalogFileError(f"{path} is a folder; give the catalog file inside it")
        limit = self.settings.max_upload_mb * 1024 * 1024
        if path.stat().st_size > limit:
            raise CatalogFileError(
                f"{path.name} is {path.stat().st_size // (1024 * 1024)} MB, over the "
                f"{self.settings.max_upload_mb} MB limit (DONA_MAX_UPLOAD_MB)"
            )
        return self.ingest_bytes(path.read_bytes(), filename=path.name, **kwargs)

    def ingest_bytes(
        self,
        data: bytes,
        filename: str | None = None,
        catalog: str | None = None,
        skip_bad_rows: bool = False,
        currency: str | None = None,
        prices_in_minor_units: bool = False,
        progress: StageProgress | None = None,
        columns: dict[str, str] | None = None,
    ) -> IngestReport:
        """Parse, validate, store, embed and index a catalog as a new version, then make
        it live. Any failure leaves the live version exactly as it was.

        `columns` overrides the automatic column mapping: product field -> file column
        ("" leaves the field out)."""
        name = check_catalog_name(catalog or self.settings.catalog)
        progress = progress or (lambda stage, done, total: None)
        timings: dict[str, float] = {}
        options = self.parse_options(currency, prices_in_minor_units, columns)

        with self._catalog_lock(name):
            catalog_row = self.store.ensure_catalog(name)
            self._discard_stale_builds(catalog_row.id)
            run_id = self.store.start_run(catalog_row.id, filename)
            version_id: int | None = None
            build_dir: Path | None = None
            try:
                t0 = time.perf_counter()
                progress("parse", 0, 1)
                parsed = parse_catalog(data, filename, options)
                if parsed.problems and not skip_bad_rows:
                    raise CatalogValidationError(parsed.problems, parsed.total_rows)
                if not parsed.products:
                    raise CatalogFileError("no valid products in the file; nothing was changed")
                products = parsed.products
                progress("parse", 1, 1)
                timings["parse"] = time.perf_counter() - t0

                t0 = time.perf_counter()
                version = self.store.new_version(
                    catalog_row.id, filename, hashlib.sha256(data).hexdigest()
                )
                version_id = version.id
                self.store.insert_products(version_id, products)
                progress("store", len(products), len(products))
                timings["store"] = time.perf_counter() - t0

                t0 = time.perf_counter()
                texts = [product_text(p) for p in products]
                vectors, embedded = self._embed_with_cache(
                    texts, lambda done, total: progress("embed", done, total)
                )
                timings["embed"] = time.perf_counter() - t0

                t0 = time.perf_counter()
                build_dir = self._version_dir(name, version.number)
                live_dir = self._live_dir(name)
                self._publish_version(
                    catalog_row,
                    version,
                    lambda directory: self._build_index_files(
                        directory,
                        vectors,
                        name,
                        version_id,
                        catalog_row,
                        progress,
                        texts=texts,
                        reuse_from=live_dir,
                    ),
                )
                timings["index"] = time.perf_counter() - t0
            except BaseException as exc:  # KeyboardInterrupt too: never leave a half version
                self._fail(run_id, version_id, build_dir, exc)
                raise
            report = IngestReport(
                catalog=name,
                version=version.number,
                products=len(products),
                rows_total=parsed.total_rows,
                skipped=parsed.problems,
                embedded=embedded,
                cached=len(texts) - embedded,
                timings=timings,
                format=parsed.format,
                mapped_columns=parsed.mapped_columns,
            )
            self.store.finish_run(
                run_id,
                "succeeded",
                version_id=version_id,
                rows_total=parsed.total_rows,
                rows_ingested=len(products),
                rows_skipped=len(parsed.problems),
                problems=[p.__dict__ for p in parsed.problems[:1000]],
                timings=timings,
            )
            self._prune_versions(name)
        return report

    def parse_options(
        self,
        currency: str | None = None,
        prices_in_minor_units: bool = False,
        columns: dict[str, str] | None = None,
    ) -> ParseOptions:
        return ParseOptions(
            default_currency=(currency or self.settings.default_currency).upper(),
            prices_in_minor_units=prices_in_minor_units,
            max_bytes=self.settings.max_upload_mb * 1024 * 1024,
            columns=dict(columns or {}),
        )

    def check_upload(
        self,
        data: bytes,
        filename: str | None = None,
        currency: str | None = None,
        prices_in_minor_units: bool = False,
        columns: dict[str, str] | None = None,
    ) -> ParseResult:
        """Validate an upload without changing anything: the products it would give and
        every bad row with its row number (the report a merchant sees before ingesting)."""
        return parse_catalog(
            data, filename, self.parse_options(currency, prices_in_minor_units, columns)
        )

    def _fail(
        self, run_id: int, version_id: int | None, build_dir: Path | None, exc: BaseException
    ) -> None:
        problems = exc.problems if isinstance(exc, CatalogValidationError) else []
        status = (
            "rejected" if isinstance(exc, CatalogFileError | CatalogValidationError) else "failed"
        )
        try:
            if version_id is not None:
                self.store.update_version(version_id, status=FAILED)
                self.store.delete_version_rows(version_id)
            if build_dir is not None:
                remove_version_dirs(build_dir)
            self.store.finish_run(
                run_id,
                status,
                message=str(exc)[:2000] or type(exc).__name__,
                problems=[p.__dict__ for p in problems[:1000]],
                rows_skipped=0,
            )
        except Exception:  # the original error matters more than the clean-up's
            pass

    def _discard_stale_builds(self, catalog_id: int) -> None:
        for row in self.store.abandon_stale_builds(catalog_id):
            self.store.delete_version_rows(row.id)
            if row.index_dir:
                shutil.rmtree(row.index_dir, ignore_errors=True)

    def _live_dir(self, catalog: str) -> Path | None:
        try:
            live = self.store.live_version(catalog)
        except CatalogNotFoundError:
            return None
        return Path(live.index_dir) if live.index_dir else None

    def _version_dir(self, catalog: str, number: int) -> Path:
        return self.settings.index_root / catalog / f"v{number:05d}"

    def _embed_with_cache(
        self, texts: list[str], progress: Callable[[int, int], None]
    ) -> tuple[np.ndarray, int]:
        embedder = self.embedder
        hashes = [text_hash(t) for t in texts]
        cached = self.store.cached_embeddings(embedder.model_id, hashes, embedder.dims)
        missing = list(dict.fromkeys(h for h in hashes if h not in cached))
        if missing:
            text_of = dict(zip(hashes, texts, strict=True))
            new = embedder.embed_documents([text_of[h] for h in missing], progress)
            fresh = dict(zip(missing, new, strict=True))
            self.store.cache_embeddings(embedder.model_id, fresh)
            cached.update(fresh)
        progress(len(texts), len(texts))
        vectors = np.stack([cached[h] for h in hashes]).astype(np.float32, copy=False)
        return vectors, len(missing)

    def _publish_version(
        self, catalog_row, version, build: Callable[[Path], dict[str, Any]]
    ) -> Path:
        """Build a version's files in `<dir>.building`, rename it into place when complete,
        then flip the live pointer in one transaction."""
        final_dir = self._version_dir(catalog_row.name, version.number)
        build_dir = final_dir.with_name(final_dir.name + ".building")
        shutil.rmtree(build_dir, ignore_errors=True)
        build_dir.mkdir(parents=True)
        manifest = build(build_dir)
        shutil.rmtree(final_dir, ignore_errors=True)
        build_dir.replace(final_dir)
        self.store.update_version(
            version.id,
            product_count=manifest["count"],
            index_dir=str(final_dir),
            embedder=manifest["embedder"],
            phase=manifest["phase"],
        )
        self.store.activate(catalog_row.id, version.id)
        return final_dir

    def _build_index_files(
        self,
        directory: Path,
        vectors: np.ndarray,
        catalog: str,
        version_id: int,
        catalog_row,
        progress: StageProgress,
        texts: list[str] | None = None,
        reuse_from: Path | None = None,
        evidence: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Write vectors, the catalog's adopted phase index, BM25 and the manifest.

        `reuse_from` is a version with the same product texts: its BM25 files are
        hard-linked, and when it also used the same embedder and phase request, so are its
        vector and index files (an unchanged re-ingest rebuilds nothing)."""
        phase, config = catalog_row.phase or "f32", dict(catalog_row.phase_config or {})
        request = {"phase": phase, "config": config}
        texts_sha256 = (
            hashlib.sha256("\x00".join(texts).encode()).hexdigest() if texts is not None else None
        )
        previous = _manifest_or_none(reuse_from)
        if texts_sha256 is None and previous is not None:
            texts_sha256 = previous.get("texts_sha256")
        same_texts = previous is not None and previous.get("texts_sha256") == texts_sha256
        same_index = (
            same_texts
            and previous.get("embedder") == self.embedder.model_id
            and previous.get("phase_request") == request
        )
        threads = self.settings.threads or os.cpu_count() or 1
        progress("index", 0, 3)
        if same_index:
            for name in previous["files"]:
                (directory / name).parent.mkdir(parents=True, exist_ok=True)
                link_or_copy(reuse_from / name, directory / name)
            phase_manifest = previous["phase_config"]
        else:
            save_vectors(vectors, directory)
            progress("index", 1, 3)
            phase_manifest = phases.create(phase, **config).build(vectors, directory, threads)
            progress("index", 2, 3)
            if same_texts:
                for name in BM25_FILES:
                    (directory / name).parent.mkdir(parents=True, exist_ok=True)
                    link_or_copy(reuse_from / name, directory / name)
            else:
                BM25Index.build(texts or [], directory)
        progress("index", 3, 3)
        manifest = {
            "catalog": catalog,
            "catalog_version": version_id,
            "embedder": self.embedder.model_id,
            "dims": int(vectors.shape[1]),
            "count": int(vectors.shape[0]),
            "text_recipe": TEXT_RECIPE,
            "texts_sha256": texts_sha256,
            "phase": phase,
            "phase_request": request,
            "phase_config": phase_manifest,
            "files": [VECTORS, *phase_manifest["files"], *BM25_FILES],
        }
        if evidence is not None:
            manifest["quantization"] = evidence
        write_manifest(directory, manifest)
        return manifest

    def adopt_phase(
        self,
        catalog: str | None,
        phase: str,
        config: dict[str, Any],
        evidence: dict[str, Any],
        progress: StageProgress | None = None,
    ) -> int:
        """Serve a catalog with another index phase: a new version with the same products
        and vectors, the new index and the evaluation evidence in its manifest, switched
        live atomically. Later ingests of the catalog use the same phase.

        Callers go through the gate first (`dona.harness.autopilot`)."""
        name = self.resolve_catalog(catalog)
        phases.get(phase)  # unknown phase: a clear error before anything is written
        progress = progress or (lambda stage, done, total: None)
        with self._catalog_lock(name):
            catalog_row = self.store.ensure_catalog(name)
            self._discard_stale_builds(catalog_row.id)
            live = self.store.live_version(name)
            source_dir = Path(live.index_dir or "")
            self.served(name)  # verifies the live files against their manifest
            vectors = np.load(source_dir / VECTORS)
            version = self.store.new_version(catalog_row.id, live.source_name, live.source_sha256)
            build_dir = self._version_dir(name, version.number)
            try:
                self.store.copy_products(live.id, version.id)
                self.store.set_catalog_phase(catalog_row.id, phase, config)
                catalog_row.phase, catalog_row.phase_config = phase, config
                self._publish_version(
                    catalog_row,
                    version,
                    lambda directory: self._build_index_files(
                        directory,
                        vectors,
                        name,
                        version.id,
                        catalog_row,
                        progress,
                        reuse_from=source_dir,
                        evidence=evidence,
                    ),
                )
            except BaseException:
                self.store.set_catalog_phase(catalog_row.id, live.phase or "f32", {})
                self.store.update_version(version.id, status=FAILED)
                self.store.delete_version_rows(version.id)
                remove_version_dirs(build_dir)
                raise
            self._prune_versions(name)
        return version.number

    def _prune_versions(self, catalog: str) -> None:
        """Keep the live version and the newest other ready versions, `keep_versions` in
        all (for rollback); drop the rest. After a rollback the live one is not the newest."""
        live_id = self.store.live_version(catalog).id
        ready = [v for v in self.store.versions(catalog) if v.status == READY and v.id != live_id]
        for old in ready[self.settings.keep_versions - 1 :]:
            self.store.update_version(old.id, status=RETIRED)
            self.store.delete_version_rows(old.id)
            if old.index_dir:
                shutil.rmtree(old.index_dir, ignore_errors=True)

    def versions(self, catalog: str | None = None) -> list[dict[str, Any]]:
        """The catalog's versions, newest first, with which one is live and which can be
        restored (kept on disk)."""
        name = self.resolve_catalog(catalog)
        live_id = self.store.live_version(name).id
        out = []
        for v in self.store.versions(name):
            out.append(
                {
                    "version": v.number,
                    "status": "live" if v.id == live_id else v.status,
                    "products": v.product_count,
                    "source": v.source_name,
                    "phase": v.phase,
                    "created": v.created_at.isoformat() if v.created_at else None,
                    "restorable": v.id != live_id
                    and v.status == READY
                    and bool(v.index_dir)
                    and Path(v.index_dir).is_dir(),
                }
            )
        return out

    def rollback(self, catalog: str | None, version: int) -> int:
        """Make an earlier, still-kept version live again (its files verified first);
        new ingests then build with that version's index phase."""
        name = self.resolve_catalog(catalog)
        with self._catalog_lock(name):
            catalog_row = self.store.catalog(name)
            live = self.store.live_version(name)
            rows = self.store.versions(name)
            target = next((v for v in rows if v.number == version), None)
            if target is not None and target.id == live.id:
                raise DonaError(f"version {version} of {name!r} is already live")
            kept = [v.number for v in rows if v.status == READY and v.id != live.id]
            if target is None or target.status != READY or not target.index_dir:
                raise DonaError(
                    f"version {version} of {name!r} cannot be restored: it is not kept "
                    f"(restorable: {', '.join(map(str, kept)) or 'none'}; DONA_KEEP_VERSIONS "
                    "sets how many are kept)"
                )
            restored = self._load_version(name, target)  # refuses damaged files
            self.store.activate(
                catalog_row.id,
                target.id,
                phase=restored.manifest["phase"],
                phase_config=dict(restored.manifest.get("phase_request", {}).get("config", {})),
            )
            with self._serve_lock:
                self._served[name] = restored
        return target.number

    # ---- serving ----------------------------------------------------------------------

    def served(self, catalog: str | None = None) -> ServedVersion:
        """The live version of a catalog, loaded (and verified) once per version."""
        name = self.resolve_catalog(catalog)
        live = self.store.live_version(name)
        current = self._served.get(name)
        if current is not None and current.version_id == live.id:
            return current
        with self._serve_lock:
            current = self._served.get(name)
            if current is None or current.version_id != live.id:
                current = self._load_version(name, live)
                self._served[name] = current
        return current

    def _load_version(self, catalog: str, live) -> ServedVersion:
        directory = Path(live.index_dir or "")
        manifest = read_manifest(
            directory,
            expect={
                "catalog": catalog,
                "catalog_version": live.id,
                "embedder": self.embedder.model_id,
                "count": live.product_count,
                "text_recipe": TEXT_RECIPE,
            },
        )
        dense = phases.create(manifest["phase"]).load(directory, manifest)
        return ServedVersion(
            version_id=live.id,
            number=live.number,
            manifest=manifest,
            dense=dense,
            lexical=BM25Index.load(directory, manifest["count"]),
            facets=self.store.facets(live.id),
            vectors=np.load(directory / VECTORS, mmap_mode="r"),
        )

    def search(
        self,
        query: str,
        catalog: str | None = None,
        k: int = 10,
        filters: Filters | None = None,
        mode: Mode = "hybrid",
    ) -> SearchResponse:
        query = clean_query(query)
        if not 1 <= k <= 1000:
            raise DonaError("k must be between 1 and 1000")
        if mode not in ("hybrid", "dense", "lexical"):
            raise ConfigError(f"unknown search mode {mode!r}; use hybrid, dense or lexical")
        filters = filters or Filters()
        served = self.served(catalog)
        hits, timings = self.rank(served, query, k, filters, mode)
        products = self.store.products_at(served.version_id, [h.position for h in hits])
        results = [
            SearchResult(products[h.position], h.score, h.sources, h.position)
            for h in hits
            if h.position in products
        ]
        return SearchResponse(
            query=query,
            catalog=served.manifest["catalog"],
            version=served.number,
            mode=mode,
            results=results,
            timings_ms=timings,
        )

    def rank(
        self, served: ServedVersion, query: str, k: int, filters: Filters, mode: Mode
    ) -> tuple[list[Hit], dict[str, float]]:
        """Positions ranked for a query; split out so evaluation can call it directly."""
        timings: dict[str, float] = {}
        allowed = filters.mask(served.facets)
        depth = max(k, self.settings.fusion_depth)
        rankings: dict[str, np.ndarray] = {}
        scores: dict[str, np.ndarray] = {}
        if mode in ("hybrid", "dense"):
            t0 = time.perf_counter()
            qvec = self.embedder.embed_query(query)
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
            hits = reciprocal_rank_fusion(
                rankings, k=self.settings.rrf_k, weights={"bm25": self.settings.bm25_weight}
            )[:k]
        else:
            name = next(iter(rankings))
            hits = [
                Hit(int(p), float(s), {name: i + 1})
                for i, (p, s) in enumerate(zip(rankings[name][:k], scores[name][:k], strict=True))
            ]
        timings["fusion"] = (time.perf_counter() - t0) * 1000
        return hits, timings

    def exact_dense(self, served: ServedVersion, query: str, k: int) -> np.ndarray:
        """Exact float32 neighbours: the reference later phases are measured against."""
        positions, _ = exact_search(served.vectors, self.embedder.embed_query(query), k)
        return positions
