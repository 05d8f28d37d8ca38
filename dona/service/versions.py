"""Catalog versions on disk: built beside the live one in `<dir>.building`, fsynced,
renamed into place when complete, switched live in one transaction, pruned to
`keep_versions`. Version files are immutable, so an unchanged rebuild hard-links them
(after checking them against their manifest). Builds left by a process that died are
removed when the next `Dona` starts or the next ingest of the catalog begins."""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from dona.catalog import TEXT_RECIPE, check_catalog_name
from dona.catalog.language import DEFAULT_LANGUAGE, detect_language
from dona.config import Settings
from dona.embed import get_embedder
from dona.errors import CatalogBusyError, CatalogNotFoundError, ConfigError, IndexIntegrityError
from dona.index import (
    VECTORS,
    link_or_copy,
    phases,
    read_manifest,
    save_vectors,
    write_manifest,
)
from dona.index.bridge import BRIDGE_VERSION, TermBridge
from dona.index.lexical import ANALYZER_VERSION, BM25_FILES, BM25Index
from dona.service.types import StageProgress
from dona.store import Store
from dona.store.rows import READY, RETIRED, CatalogRow, CatalogVersionRow


def remove_version_dirs(final_dir: Path) -> None:
    """A failed version leaves no files: neither its build folder nor a renamed one."""
    shutil.rmtree(final_dir.with_name(final_dir.name + ".building"), ignore_errors=True)
    shutil.rmtree(final_dir, ignore_errors=True)


def _verified_manifest_or_none(directory: Path | None) -> dict[str, Any] | None:
    """A previous version's manifest, for reuse decisions, only if its files still match
    it: hard-linking a damaged file would bless it with a fresh checksum."""
    if directory is None:
        return None
    try:
        return read_manifest(directory, expect={})
    except (IndexIntegrityError, OSError, ValueError):
        return None


def _fsync(path: Path, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(root: Path) -> None:
    """Every file and folder under `root` on disk, so a power cut after the version goes
    live cannot leave it with empty or missing files."""
    for folder, _dirs, files in os.walk(root):
        for name in files:
            _fsync(Path(folder) / name)
        _fsync(Path(folder), directory=True)


@contextmanager
def catalog_lock(settings: Settings, name: str) -> Iterator[None]:
    """One ingest (or phase change, or rollback) per catalog at a time, per data directory."""
    lock_dir = settings.data_dir / "locks"
    lock_dir.mkdir(parents=True, exist_ok=True)
    with open(lock_dir / f"{name}.lock", "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CatalogBusyError(
                f"another ingest of catalog {name!r} is running; wait for it to finish",
                code="catalog_busy",
                params={"name": name},
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


def discard_stale_builds(settings: Settings, store: Store, catalog_row: CatalogRow) -> None:
    """Under the catalog's lock: versions left `building` by a process that died, and
    any `.building` folder, go (rows and files)."""
    for row in store.abandon_stale_builds(catalog_row.id):
        store.delete_version_rows(row.id)
        remove_version_dirs(version_dir(settings, catalog_row.name, row.number))
        if row.index_dir:
            shutil.rmtree(row.index_dir, ignore_errors=True)
    _remove_build_folders(settings, catalog_row.name)


def _remove_build_folders(settings: Settings, catalog: str) -> None:
    folder = settings.index_root / catalog
    if folder.is_dir():
        for leftover in folder.glob("*.building"):
            shutil.rmtree(leftover, ignore_errors=True)


def clean_abandoned_builds(settings: Settings, store: Store) -> None:
    """At start: what dead ingests left behind, for each catalog whose lock is free (a
    catalog being ingested right now owns its build). Never fails the start."""
    try:
        names = set(store.catalogs_with_stale_builds())
        root = settings.index_root
        if root.is_dir():
            names.update(d.name for d in root.iterdir() if any(d.glob("*.building")))
    except OSError:
        return
    for name in sorted(names):
        try:
            check_catalog_name(name)
            with catalog_lock(settings, name):
                row = store.catalog(name)
                if row is not None:
                    discard_stale_builds(settings, store, row)
                else:
                    _remove_build_folders(settings, name)
        except (CatalogBusyError, ConfigError, OSError):
            continue


def publish_version(
    settings: Settings,
    store: Store,
    catalog_row: CatalogRow,
    version: CatalogVersionRow,
    build: Callable[[Path], dict[str, Any]],
) -> Path:
    """Build a version's files in `<dir>.building`, fsync them, rename the folder into
    place when complete (and fsync that rename), then flip the live pointer in one
    transaction."""
    final_dir = version_dir(settings, catalog_row.name, version.number)
    build_dir = final_dir.with_name(final_dir.name + ".building")
    shutil.rmtree(build_dir, ignore_errors=True)
    build_dir.mkdir(parents=True)
    manifest = build(build_dir)
    fsync_tree(build_dir)
    shutil.rmtree(final_dir, ignore_errors=True)
    build_dir.replace(final_dir)
    _fsync(final_dir.parent, directory=True)  # the rename
    _fsync(settings.index_root, directory=True)  # the catalog folder, when it is new
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
    brands: list[str | None] | None = None,
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
    previous = _verified_manifest_or_none(reuse_from)
    if texts_sha256 is None and previous is not None:
        texts_sha256 = previous.get("texts_sha256")
    same_texts = previous is not None and previous.get("texts_sha256") == texts_sha256
    same_index = (
        same_texts
        and previous.get("embedder") == embedder_id
        and previous.get("phase_request") == request
    )
    threads = settings.threads or os.cpu_count() or 1
    known: dict[str, str] = {}  # checksums of files linked from the verified version

    def reuse(names: list[str]) -> None:
        for name in names:
            (directory / name).parent.mkdir(parents=True, exist_ok=True)
            link_or_copy(reuse_from / name, directory / name)
            if os.path.samefile(reuse_from / name, directory / name):
                known[name] = previous["checksums"][name]

    # The catalog's language picks the lexical analyzer; unchanged texts keep theirs.
    if texts is not None:
        language = detect_language(texts)
    else:
        language = (previous or {}).get("language", DEFAULT_LANGUAGE)
    lexical = {"language": language, "analyzer": ANALYZER_VERSION}
    same_lexical = same_texts and previous.get("lexical") == lexical
    bridge_request = (
        {"embedder": settings.bridge_embedder, "version": BRIDGE_VERSION}
        if settings.cross_lingual
        else None
    )
    previous_bridge = (previous or {}).get("bridge")
    same_bridge = (
        same_texts
        and bridge_request is not None
        and previous_bridge is not None
        and previous_bridge.get("request") == bridge_request
    )

    progress("index", 0, 4)
    if same_index:
        reuse([VECTORS, *previous["phase_config"]["files"]])
        phase_manifest = previous["phase_config"]
    else:
        save_vectors(vectors, directory)
        progress("index", 1, 4)
        phase_manifest = phases.create(phase, settings, **config).build(vectors, directory, threads)
    progress("index", 2, 4)
    if same_lexical:
        reuse(list(BM25_FILES))
    else:
        if texts is None:
            raise ValueError("the product texts are needed to rebuild the lexical index")
        BM25Index.build(texts, directory, language)
    progress("index", 3, 4)
    bridge_part = None
    if same_bridge:
        reuse(list(previous_bridge["files"]))
        bridge_part = previous_bridge
    elif bridge_request is not None and texts is not None:
        bridge_embedder = get_embedder(settings, settings.bridge_embedder)
        bridge_part = {
            **TermBridge.build(texts, directory, bridge_embedder, brands or ()),
            "request": bridge_request,
        }
    progress("index", 4, 4)
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
        "language": language,
        "lexical": lexical,
        "files": [
            VECTORS,
            *phase_manifest["files"],
            *BM25_FILES,
            *(bridge_part["files"] if bridge_part else []),
        ],
    }
    if bridge_part is not None:
        manifest["bridge"] = bridge_part
    if evidence is not None:
        manifest["quantization"] = evidence
    write_manifest(directory, manifest, known_checksums=known)
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
