"""Catalog versions on disk: built beside the live one in `<dir>.building`, renamed into
place when complete, switched live in one transaction, pruned to `keep_versions`.
Version files are immutable, so an unchanged rebuild hard-links them."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from dona.catalog import TEXT_RECIPE
from dona.config import Settings
from dona.errors import CatalogNotFoundError, DonaError
from dona.index import MANIFEST, VECTORS, link_or_copy, phases, save_vectors, write_manifest
from dona.index.lexical import BM25_FILES, BM25Index
from dona.service.types import StageProgress
from dona.store import Store
from dona.store.rows import READY, RETIRED, CatalogRow, CatalogVersionRow


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


@contextmanager
def catalog_lock(settings: Settings, name: str) -> Iterator[None]:
    """One ingest (or phase change, or rollback) per catalog at a time, per data directory."""
    lock_dir = settings.data_dir / "locks"
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


def version_dir(settings: Settings, catalog: str, number: int) -> Path:
    return settings.index_root / catalog / f"v{number:05d}"


def live_dir(store: Store, catalog: str) -> Path | None:
    try:
        live = store.live_version(catalog)
    except CatalogNotFoundError:
        return None
    return Path(live.index_dir) if live.index_dir else None


def discard_stale_builds(store: Store, catalog_id: int) -> None:
    """Versions left `building` by a process that died: their rows and files go."""
    for row in store.abandon_stale_builds(catalog_id):
        store.delete_version_rows(row.id)
        if row.index_dir:
            shutil.rmtree(row.index_dir, ignore_errors=True)


def publish_version(
    settings: Settings,
    store: Store,
    catalog_row: CatalogRow,
    version: CatalogVersionRow,
    build: Callable[[Path], dict[str, Any]],
) -> Path:
    """Build a version's files in `<dir>.building`, rename it into place when complete,
    then flip the live pointer in one transaction."""
    final_dir = version_dir(settings, catalog_row.name, version.number)
    build_dir = final_dir.with_name(final_dir.name + ".building")
    shutil.rmtree(build_dir, ignore_errors=True)
    build_dir.mkdir(parents=True)
    manifest = build(build_dir)
    shutil.rmtree(final_dir, ignore_errors=True)
    build_dir.replace(final_dir)
    store.update_version(
        version.id,
        product_count=manifest["count"],
        index_dir=str(final_dir),
        embedder=manifest["embedder"],
        phase=manifest["phase"],
    )
    store.activate(catalog_row.id, version.id)
    return final_dir


def build_index_files(
    settings: Settings,
    directory: Path,
    vectors: np.ndarray,
    embedder_id: str,
    catalog: str,
    version_id: int,
    catalog_row: CatalogRow,
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
        and previous.get("embedder") == embedder_id
        and previous.get("phase_request") == request
    )
    threads = settings.threads or os.cpu_count() or 1
    progress("index", 0, 3)
    if same_index:
        for name in previous["files"]:
            (directory / name).parent.mkdir(parents=True, exist_ok=True)
            link_or_copy(reuse_from / name, directory / name)
        phase_manifest = previous["phase_config"]
    else:
        save_vectors(vectors, directory)
        progress("index", 1, 3)
        phase_manifest = phases.create(phase, settings, **config).build(vectors, directory, threads)
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
        "embedder": embedder_id,
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


def prune_versions(settings: Settings, store: Store, catalog: str) -> None:
    """Keep the live version and the newest other ready versions, `keep_versions` in
    all (for rollback); drop the rest. After a rollback the live one is not the newest."""
    live_id = store.live_version(catalog).id
    ready = [v for v in store.versions(catalog) if v.status == READY and v.id != live_id]
    for old in ready[settings.keep_versions - 1 :]:
        store.update_version(old.id, status=RETIRED)
        store.delete_version_rows(old.id)
        if old.index_dir:
            shutil.rmtree(old.index_dir, ignore_errors=True)
