"""The ingest pipeline: parse and validate, store the rows, embed (through the embedding
cache), build the index files, switch live. Any failure leaves the live version exactly
as it was and the run recorded with its reason."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from dona.catalog import ParseOptions, product_text
from dona.catalog.parse import parse_catalog
from dona.config import Settings
from dona.embed import Embedder
from dona.errors import CatalogFileError, CatalogValidationError
from dona.service.types import IngestReport, StageProgress
from dona.service.versions import (
    build_index_files,
    catalog_lock,
    discard_stale_builds,
    live_dir,
    prune_versions,
    publish_version,
    remove_version_dirs,
    version_dir,
)
from dona.store import Store, text_hash
from dona.store.rows import FAILED


def parse_options(
    settings: Settings,
    currency: str | None = None,
    prices_in_minor_units: bool = False,
    columns: dict[str, str] | None = None,
) -> ParseOptions:
    return ParseOptions(
        default_currency=(currency or settings.default_currency).upper(),
        prices_in_minor_units=prices_in_minor_units,
        max_bytes=settings.max_upload_mb * 1024 * 1024,
        columns=dict(columns or {}),
    )


def embed_with_cache(
    store: Store, embedder: Embedder, texts: list[str], progress: Callable[[int, int], None]
) -> tuple[np.ndarray, int]:
    """Vectors for `texts`, running only the texts this model has not embedded before.
    Returns the vectors and how many texts were embedded."""
    hashes = [text_hash(t) for t in texts]
    cached = store.cached_embeddings(embedder.model_id, hashes, embedder.dims)
    missing = list(dict.fromkeys(h for h in hashes if h not in cached))
    if missing:
        text_of = dict(zip(hashes, texts, strict=True))
        new = embedder.embed_documents([text_of[h] for h in missing], progress)
        fresh = dict(zip(missing, new, strict=True))
        store.cache_embeddings(embedder.model_id, fresh)
        cached.update(fresh)
    progress(len(texts), len(texts))
    vectors = np.stack([cached[h] for h in hashes]).astype(np.float32, copy=False)
    return vectors, len(missing)


def _fail(
    store: Store, run_id: int, version_id: int | None, build_dir: Path | None, exc: BaseException
) -> None:
    problems = exc.problems if isinstance(exc, CatalogValidationError) else []
    status = "rejected" if isinstance(exc, CatalogFileError | CatalogValidationError) else "failed"
    try:
        if version_id is not None:
            store.update_version(version_id, status=FAILED)
            store.delete_version_rows(version_id)
        if build_dir is not None:
            remove_version_dirs(build_dir)
        store.finish_run(
            run_id,
            status,
            message=str(exc)[:2000] or type(exc).__name__,
            problems=[p.__dict__ for p in problems[:1000]],
            rows_skipped=0,
        )
    except Exception:  # the original error matters more than the clean-up's
        pass


def ingest(
    settings: Settings,
    store: Store,
    embedder: Embedder,
    name: str,
    data: bytes,
    filename: str | None,
    options: ParseOptions,
    skip_bad_rows: bool,
    progress: StageProgress,
) -> IngestReport:
    """Parse, validate, store, embed and index a catalog as a new version of `name`, then
    make it live (see the module docstring)."""
    timings: dict[str, float] = {}
    with catalog_lock(settings, name):
        catalog_row = store.ensure_catalog(name)
        discard_stale_builds(settings, store, catalog_row)
        run_id = store.start_run(catalog_row.id, filename)
        version_id: int | None = None
        build_dir: Path | None = None
        try:
            t0 = time.perf_counter()
            progress("parse", 0, 1)
            parsed = parse_catalog(data, filename, options)
            if parsed.problems and not skip_bad_rows:
                parsed.raise_if_invalid()  # counts every bad row, lists the first ones
            if not parsed.products:
                raise CatalogFileError(
                    "no valid products in the file; nothing was changed",
                    code="file_no_valid_products",
                )
            products = parsed.products
            progress("parse", 1, 1)
            timings["parse"] = time.perf_counter() - t0

            t0 = time.perf_counter()
            version = store.new_version(catalog_row.id, filename, hashlib.sha256(data).hexdigest())
            version_id = version.id
            store.insert_products(version_id, products)
            progress("store", len(products), len(products))
            timings["store"] = time.perf_counter() - t0

            t0 = time.perf_counter()
            texts = [product_text(p) for p in products]
            vectors, embedded = embed_with_cache(
                store, embedder, texts, lambda done, total: progress("embed", done, total)
            )
            timings["embed"] = time.perf_counter() - t0

            t0 = time.perf_counter()
            build_dir = version_dir(settings, name, version.number)
            reuse_from = live_dir(store, name)
            publish_version(
                settings,
                store,
                catalog_row,
                version,
                lambda directory: build_index_files(
                    settings,
                    directory,
                    vectors,
                    embedder.model_id,
                    name,
                    version_id,
                    catalog_row,
                    progress,
                    texts=texts,
                    brands=[p.brand for p in products],
                    reuse_from=reuse_from,
                ),
            )
            timings["index"] = time.perf_counter() - t0
        except BaseException as exc:  # KeyboardInterrupt too: never leave a half version
            _fail(store, run_id, version_id, build_dir, exc)
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
            skipped_count=parsed.problem_count,
        )
        store.finish_run(
            run_id,
            "succeeded",
            version_id=version_id,
            rows_total=parsed.total_rows,
            rows_ingested=len(products),
            rows_skipped=parsed.problem_count,
            problems=[p.__dict__ for p in parsed.problems[:1000]],
            timings=timings,
        )
        prune_versions(settings, store, name)
    return report
