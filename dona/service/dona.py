"""`Dona`: the one door to the core. The CLI, the UI, the chat engine and the evaluation
call its typed methods; only this package and `dona.store` touch the database.

The jobs live beside it: `ingest` (the pipeline), `versions` (version files, publish,
prune), `serving` (loaded live versions and ranking).

Authorization lives here, not only in the pages: every operation that changes or reports
on a catalog for its merchant (ingest, rollback, adopting a phase, versions, ingest runs,
the index setting) takes an optional `merchant=`. Given one, the account is checked
against the database (removed, or a new password since the sign-in: `SignedOutError`)
and any other catalog is refused with `AuthError`. Without one the caller is the
operator (the CLI, scripts), as before."""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from dona.catalog import ParseOptions, ParseResult, Product, check_catalog_name, product_text
from dona.catalog.parse import check_catalog_file, parse_catalog
from dona.config import Settings, get_settings
from dona.embed import Embedder, get_embedder
from dona.errors import (
    AuthError,
    CatalogNotFoundError,
    ConfigError,
    DonaError,
    SignedOutError,
)
from dona.index import VECTORS, phases
from dona.search import Filters, Hit, Mode, clean_query
from dona.service.ingest import ingest as run_ingest
from dona.service.ingest import parse_options as ingest_parse_options
from dona.service.serving import ServedVersion, ServedVersions, rank
from dona.service.types import (
    CatalogInfo,
    IndexSetting,
    IngestReport,
    IngestRunInfo,
    SearchResponse,
    SearchResult,
    StageProgress,
    VersionInfo,
)
from dona.service.versions import (
    build_index_files,
    catalog_lock,
    clean_abandoned_builds,
    discard_stale_builds,
    prune_versions,
    publish_version,
    remove_version_dirs,
    version_dir,
)
from dona.store import Accounts, Merchant, Store
from dona.store.rows import FAILED, READY


def _iso(moment: Any) -> str | None:
    return moment.isoformat() if moment else None


def _no_progress(stage: str, done: int, total: int) -> None:
    pass


class Dona:
    """One per process; thread-safe for searching."""

    def __init__(self, settings: Settings | None = None, store: Store | None = None):
        self.settings = settings or get_settings()
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        password = self.settings.database_password
        self.store = store or Store(
            self.settings.resolved_database_url,
            password=password.get_secret_value() if password else None,
        )
        self.store.create_schema()
        self._served = ServedVersions(self.store, self.settings)
        clean_abandoned_builds(self.settings, self.store)  # what a killed ingest left

    def close(self) -> None:
        """Release database connections (tests and short-lived scripts)."""
        self.store.dispose()

    @property
    def embedder(self) -> Embedder:
        return get_embedder(self.settings)

    @property
    def accounts(self) -> Accounts:
        return Accounts(
            self.store,
            self.settings.signin_max_failures,
            self.settings.signin_window_s,
            client_max_failures=self.settings.signin_client_max_failures,
            global_max_failures=self.settings.signin_global_max_failures,
        )

    # ---- merchants ---------------------------------------------------------------------

    def merchant_session(self, merchant: Merchant, idle_s: float | None = None) -> Merchant:
        """A signed-in merchant still valid for a page: not idle for longer than
        `DONA_MERCHANT_IDLE_TIMEOUT_S`, account not removed, password not changed since.
        Otherwise `SignedOutError` (the UI signs the session out)."""
        timeout = self.settings.merchant_idle_timeout_s
        if idle_s is not None and idle_s > timeout:
            minutes = max(1, timeout // 60)
            raise SignedOutError(
                f"you were signed out after {minutes} minute{'s' if minutes != 1 else ''} "
                "without activity; sign in again",
                code="signed_out_idle",
                params={"minutes": minutes},
            )
        return self.accounts.check(merchant)

    def _merchant_catalog(self, merchant: Merchant | None, catalog: str | None) -> str | None:
        """The catalog a merchant operation acts on: with a merchant, theirs and no other
        (checked against the accounts table); without, `catalog` as given (operator)."""
        if merchant is None:
            return catalog
        if not isinstance(merchant, Merchant):
            raise AuthError("sign in as a merchant first", code="sign_in_required")
        merchant = self.accounts.check(merchant)
        if catalog is not None and catalog != merchant.catalog:
            raise AuthError(
                f"merchant {merchant.username!r} manages catalog {merchant.catalog!r}, not "
                f"{catalog!r}",
                code="wrong_catalog",
                params={
                    "username": merchant.username,
                    "catalog": merchant.catalog,
                    "other": catalog,
                },
            )
        return merchant.catalog

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
                    "no catalog has been ingested yet; run 'dona ingest FILE' first",
                    code="no_catalog",
                )
        return self.settings.catalog

    def catalogs(self) -> list[CatalogInfo]:
        return [
            CatalogInfo(
                name=catalog.name,
                version=live.number if live else None,
                products=live.product_count if live else 0,
                phase=live.phase if live else None,
                embedder=live.embedder if live else None,
                updated=_iso(live.activated_at) if live else None,
            )
            for catalog, live in self.store.catalogs()
        ]

    def brands(self, catalog: str | None = None) -> list[str]:
        """Brands of the live version (for filter pickers)."""
        return self.store.brands(self.store.live_version(self.resolve_catalog(catalog)).id)

    def index_setting(
        self, catalog: str | None = None, *, merchant: Merchant | None = None
    ) -> IndexSetting:
        """The live version and the index phase (with its config) the catalog is served
        with; later ingests build with the same phase."""
        name = self.resolve_catalog(self._merchant_catalog(merchant, catalog))
        live = self.store.live_version(name)
        row = self.store.catalog(name)
        return IndexSetting(
            catalog=name,
            version=live.number,
            phase=(row.phase if row else None) or "f32",
            config=dict((row.phase_config if row else None) or {}),
        )

    def products_by_id(self, catalog: str | None, product_ids: Iterable[str]) -> dict[str, Product]:
        """Products of the live version by id (ids not in it are left out)."""
        return self.store.products_by_id(self.served(catalog).version_id, product_ids)

    def all_products(self, catalog: str | None = None) -> list[Product]:
        """Every product of the live version, in index order."""
        return self.store.all_products(self.served(catalog).version_id)

    # ---- ingest -----------------------------------------------------------------------

    def ingest_file(self, path: str | Path, **kwargs: Any) -> IngestReport:
        path = check_catalog_file(path, self.settings.max_upload_mb * 1024 * 1024)
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
        *,
        merchant: Merchant | None = None,
    ) -> IngestReport:
        """Parse, validate, store, embed and index a catalog as a new version, then make
        it live. Any failure leaves the live version exactly as it was.

        `columns` overrides the automatic column mapping: product field -> file column
        ("" leaves the field out). `merchant`: only their own catalog."""
        catalog = self._merchant_catalog(merchant, catalog)
        name = check_catalog_name(catalog or self.settings.catalog)
        return run_ingest(
            self.settings,
            self.store,
            self.embedder,
            name,
            data,
            filename,
            self.parse_options(currency, prices_in_minor_units, columns),
            skip_bad_rows,
            progress or _no_progress,
        )

    def parse_options(
        self,
        currency: str | None = None,
        prices_in_minor_units: bool = False,
        columns: dict[str, str] | None = None,
    ) -> ParseOptions:
        return ingest_parse_options(self.settings, currency, prices_in_minor_units, columns)

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

    def ingest_runs(
        self, catalog: str | None = None, limit: int = 20, *, merchant: Merchant | None = None
    ) -> list[IngestRunInfo]:
        """The catalog's recent ingest runs, newest first, with their outcome (and lines
        about versions that could not be served)."""
        catalog = self._merchant_catalog(merchant, catalog)
        return [
            IngestRunInfo(
                started=_iso(run.started_at) or "",
                source=run.source_name,
                status=run.status,
                rows_total=run.rows_total,
                rows_ingested=run.rows_ingested,
                rows_skipped=run.rows_skipped,
                message=run.message,
            )
            for run in self.store.runs(self.resolve_catalog(catalog), limit=limit)
        ]

    # ---- versions ---------------------------------------------------------------------

    def adopt_phase(
        self,
        catalog: str | None,
        phase: str,
        config: dict[str, Any],
        evidence: dict[str, Any],
        progress: StageProgress | None = None,
        *,
        merchant: Merchant | None = None,
    ) -> int:
        """Serve a catalog with another index phase: a new version with the same products
        and vectors, the new index and the evaluation evidence in its manifest, switched
        live atomically. Later ingests of the catalog use the same phase.

        Callers go through the gate first (`dona.eval.harness.autopilot`)."""
        name = self.resolve_catalog(self._merchant_catalog(merchant, catalog))
        phases.get(phase)  # unknown phase: a clear error before anything is written
        progress = progress or _no_progress
        with catalog_lock(self.settings, name):
            catalog_row = self.store.ensure_catalog(name)
            discard_stale_builds(self.settings, self.store, catalog_row)
            live = self.store.live_version(name)
            # the verified files being served (an earlier version if the live one is damaged)
            served = self.served(name)
            source_dir = served.directory
            vectors = np.load(source_dir / VECTORS)
            # the same texts: their lexical index and bridge are linked, or rebuilt when
            # they predate the current analyzer
            products = self.store.all_products(served.version_id)
            texts = [product_text(p) for p in products]
            version = self.store.new_version(catalog_row.id, live.source_name, live.source_sha256)
            build_dir = version_dir(self.settings, name, version.number)
            try:
                self.store.copy_products(served.version_id, version.id)
                self.store.set_catalog_phase(catalog_row.id, phase, config)
                catalog_row.phase, catalog_row.phase_config = phase, config
                publish_version(
                    self.settings,
                    self.store,
                    catalog_row,
                    version,
                    lambda directory: build_index_files(
                        self.settings,
                        directory,
                        vectors,
                        self.embedder.model_id,
                        name,
                        version.id,
                        catalog_row,
                        progress,
                        texts=texts,
                        brands=[p.brand for p in products],
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
            prune_versions(self.settings, self.store, name)
        return version.number

    def versions(
        self, catalog: str | None = None, *, merchant: Merchant | None = None
    ) -> list[VersionInfo]:
        """The catalog's versions, newest first, with which one is live and which can be
        restored (kept on disk)."""
        name = self.resolve_catalog(self._merchant_catalog(merchant, catalog))
        live_id = self.store.live_version(name).id
        return [
            VersionInfo(
                version=v.number,
                status="live" if v.id == live_id else v.status,
                products=v.product_count,
                source=v.source_name,
                phase=v.phase,
                created=_iso(v.created_at),
                restorable=v.id != live_id
                and v.status == READY
                and bool(v.index_dir)
                and Path(v.index_dir).is_dir(),
            )
            for v in self.store.versions(name)
        ]

    def rollback(
        self, catalog: str | None, version: int, *, merchant: Merchant | None = None
    ) -> int:
        """Make an earlier, still-kept version live again (its files verified first);
        new ingests then build with that version's index phase."""
        name = self.resolve_catalog(self._merchant_catalog(merchant, catalog))
        with catalog_lock(self.settings, name):
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
            restored = self._served.load(name, target, self.embedder)  # refuses damaged files
            self.store.activate(
                catalog_row.id,
                target.id,
                phase=restored.manifest["phase"],
                phase_config=dict(restored.manifest.get("phase_request", {}).get("config", {})),
            )
            self._served.put(name, restored)
        return target.number

    # ---- serving ----------------------------------------------------------------------

    def served(self, catalog: str | None = None) -> ServedVersion:
        """The live version of a catalog, loaded (and verified) once per version."""
        return self._served.get(self.resolve_catalog(catalog), self.embedder)

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
        t0 = time.perf_counter()
        bridged = served.bridged(query)
        bridge_ms = (time.perf_counter() - t0) * 1000
        hits, timings = rank(served, query, k, filters, mode, self.embedder, self.settings, bridged)
        if served.bridge is not None:
            timings = {"bridge": bridge_ms, **timings}
        products = self.store.products_at(served.version_id, [h.position for h in hits])
        results = [
            SearchResult(products[h.position], h.score, h.sources, h.position)
            for h in hits
            if h.position in products
        ]
        return SearchResponse(
            query=query,
            catalog=served.catalog,
            version=served.number,
            mode=mode,
            results=results,
            timings_ms=timings,
            searched_as=bridged.text if bridged.changed else None,
        )

    def rank(
        self, served: ServedVersion, query: str, k: int, filters: Filters, mode: Mode
    ) -> tuple[list[Hit], dict[str, float]]:
        """Positions ranked for a query (what `search` and the benchmarks time)."""
        return rank(served, query, k, filters, mode, self.embedder, self.settings)
