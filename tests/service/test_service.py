"""Ingest and search through `Dona`, with the hashing embedder (isolates bookkeeping from
the model; retrieval quality with the real model is in test_integration.py)."""

import json
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import CATALOG

from dona.errors import (
    AuthError,
    CatalogBusyError,
    CatalogFileError,
    CatalogValidationError,
    ConfigError,
    DonaError,
    IndexIntegrityError,
    SignedOutError,
)
from dona.search import Filters
from dona.service import Dona
from dona.store import Merchant
from dona.store.rows import FAILED, RETIRED
from dona.store.store import Store


def live(dona, name="default"):
    return dona.store.live_version(name)


def test_ingest_then_search(dona):
    report = dona.ingest_bytes(CATALOG, filename="shop.csv")
    assert (report.catalog, report.version, report.products) == ("default", 1, 5)
    assert report.embedded == 5 and report.cached == 0
    assert set(report.timings) == {"parse", "store", "embed", "index"}
    response = dona.search("bluetooth speaker", k=3)
    assert {r.product.id for r in response.results[:2]} == {"s1", "s2"}
    prices = {r["id"]: r["price"] for r in response.to_dict()["results"]}
    assert prices["s1"] == 49.0


def test_filters_hold_in_every_mode(dona):
    dona.ingest_bytes(CATALOG, filename="shop.csv")
    cases = [
        (Filters(max_price=50), {"s1", "c1"}),
        (Filters(min_price=50, max_price=100), {"s2"}),
        (Filters(brands=("acme",)), {"s1", "s3", "c2"}),
        (Filters(in_stock=True, category="audio"), {"s1", "s3"}),
    ]
    for mode in ("hybrid", "dense", "lexical"):
        for filters, allowed in cases:
            got = {
                r.product.id
                for r in dona.search("bluetooth cable", k=10, filters=filters, mode=mode).results
            }
            assert got <= allowed, (mode, filters)
            if mode != "lexical":  # dense ranks every allowed product
                assert got == allowed, (mode, filters)


def test_reingest_unchanged_embeds_nothing(dona):
    dona.ingest_bytes(CATALOG, filename="shop.csv")
    again = dona.ingest_bytes(CATALOG, filename="shop.csv")
    assert (again.version, again.embedded, again.cached) == (2, 0, 5)
    v1, v2 = (dona.settings.index_root / "default" / f"v0000{n}" for n in (1, 2))
    for name in ("vectors.f32.npy", "index.f32.usearch", "bm25/vocab.index.json"):
        assert (v1 / name).stat().st_ino == (v2 / name).stat().st_ino  # linked, not rebuilt
    changed = dona.ingest_bytes(CATALOG.replace(b"HDMI Cable", b"HDMI 2.1 Cable"), filename="s.csv")
    assert (changed.embedded, changed.cached) == (1, 4)
    v3 = dona.settings.index_root / "default" / "v00003"
    assert (v3 / "vectors.f32.npy").stat().st_ino != (v2 / "vectors.f32.npy").stat().st_ino
    assert dona.search("hdmi", k=1, mode="lexical").results[0].product.title == "HDMI 2.1 Cable"


def test_invalid_upload_changes_nothing(dona):
    dona.ingest_bytes(CATALOG, filename="shop.csv")
    before = live(dona)
    files_before = sorted(p.name for p in dona.settings.index_root.joinpath("default").iterdir())
    bad = CATALOG + b",No id,Acme,1,1,x\nz9,Bad price,Acme,cheap,1,x\n"
    with pytest.raises(CatalogValidationError) as info:
        dona.ingest_bytes(bad, filename="shop.csv")
    assert [(p.row, p.reason) for p in info.value.problems] == [
        (7, "missing id"),
        (8, "unparseable price 'cheap'"),
    ]
    for broken in (b"", b"\x00\x01binary", b"name,colour\nx,red\n"):
        with pytest.raises(CatalogFileError):
            dona.ingest_bytes(broken, filename="x.csv")
    assert live(dona).id == before.id
    assert (
        sorted(p.name for p in dona.settings.index_root.joinpath("default").iterdir())
        == files_before
    )
    runs = dona.store.runs("default")
    assert [r.status for r in runs][:4] == ["rejected"] * 4
    assert runs[3].problems[0] == {"row": 7, "reason": "missing id", "product_id": None}
    assert dona.search("portable", k=1, mode="lexical").results[0].product.id == "s1"


def test_skip_bad_rows_is_explicit_and_reported(dona):
    bad = CATALOG + b",No id,Acme,1,1,x\n"
    report = dona.ingest_bytes(bad, filename="shop.csv", skip_bad_rows=True)
    assert report.products == 5 and [p.row for p in report.skipped] == [7]
    assert dona.store.runs("default")[0].rows_skipped == 1


def test_failure_mid_build_keeps_previous_version(dona, monkeypatch):
    dona.ingest_bytes(CATALOG, filename="shop.csv")
    before = live(dona)

    def explode(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("dona.index.lexical.BM25Index.build", explode)
    with pytest.raises(OSError, match="disk full"):
        dona.ingest_bytes(CATALOG.replace(b"Acme", b"Zed"), filename="shop.csv")
    assert live(dona).id == before.id
    failed = dona.store.versions("default")[0]
    assert failed.status == FAILED and dona.store.all_products(failed.id) == []
    assert not any(
        p.name.endswith(".building") for p in (dona.settings.index_root / "default").iterdir()
    )
    assert dona.search("portable", k=1, mode="lexical").results[0].product.brand == "Acme"


def test_process_killed_mid_ingest_leaves_previous_version_serving(dona, tmp_path):
    """A real crash: a child process is SIGKILLed while it builds the index."""
    dona.ingest_bytes(CATALOG, filename="shop.csv")
    before = live(dona)
    (tmp_path / "new.csv").write_bytes(CATALOG.replace(b"Acme", b"Zed"))
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        sys.path.insert(0, {os.path.dirname(os.path.dirname(__file__))!r})
        import conftest
        conftest.register_hashing_embedder()
        import dona.index.lexical
        import dona.service
        from dona.config import Settings
        def die(*a, **k):
            os.kill(os.getpid(), signal.SIGKILL)
        dona.index.lexical.BM25Index.build = die
        service = dona.service.Dona(Settings(data_dir={str(dona.settings.data_dir)!r}, embedder="test-hashing"))
        service.ingest_file({str(tmp_path / "new.csv")!r})
        """
    )
    child = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()
    assert live(dona).id == before.id
    stuck = dona.store.versions("default")[0]
    assert stuck.status == "building"  # what the dead process left behind
    leftover = dona.settings.index_root / "default" / "v00002.building"
    assert leftover.is_dir()
    assert dona.search("portable", k=1, mode="lexical").results[0].product.brand == "Acme"
    # the next start cleans up after it, before any ingest
    Dona(dona.settings).close()
    assert not leftover.exists()
    assert dona.store.version(stuck.id).status == FAILED
    assert dona.store.all_products(stuck.id) == []
    report = dona.ingest_bytes(CATALOG.replace(b"Acme", b"Yak"), filename="shop.csv")
    assert report.version == 3 and live(dona).number == 3
    assert dona.search("portable", k=1, mode="lexical").results[0].product.brand == "Yak"


def test_old_versions_are_pruned(dona):
    for i in range(5):
        dona.ingest_bytes(CATALOG + f"x{i},Extra {i},Acme,1,1,x\n".encode(), filename="s.csv")
    versions = dona.store.versions("default")
    assert [v.status for v in versions] == ["ready"] * 3 + [RETIRED] * 2
    kept = sorted(p.name for p in (dona.settings.index_root / "default").iterdir())
    assert kept == ["v00003", "v00004", "v00005"]


def test_serving_follows_the_live_version_across_processes(settings, dona):
    dona.ingest_bytes(CATALOG, filename="shop.csv")
    replica = Dona(settings)  # another app process on the same database and files
    assert replica.search("speaker", k=1).version == 1
    dona.ingest_bytes(CATALOG.replace(b"Acme", b"Zed"), filename="shop.csv")
    assert replica.search("speaker", k=1).version == 2


def test_index_built_with_another_model_is_refused(settings, dona):
    dona.ingest_bytes(CATALOG, filename="shop.csv")
    other = Dona(settings.model_copy(update={"embedder": "minilm"}))
    with pytest.raises(IndexIntegrityError, match="embedder='test-hashing-64' but 'all-MiniLM"):
        other.search("speaker")


def test_tampered_index_is_refused(settings, dona):
    dona.ingest_bytes(CATALOG, filename="shop.csv")
    version_dir = dona.settings.index_root / "default" / "v00001"
    vectors = np.load(version_dir / "vectors.f32.npy")
    np.save(version_dir / "vectors.f32.npy", vectors * 0.5)
    with pytest.raises(IndexIntegrityError, match="checksum"):
        Dona(settings).search("speaker")


def test_catalog_resolution_and_names(dona):
    with pytest.raises(DonaError, match="no catalog has been ingested yet"):
        dona.search("x")
    dona.ingest_bytes(CATALOG, filename="shop.csv", catalog="shop-eu")
    assert dona.search("speaker").catalog == "shop-eu"  # the only catalog is the default
    with pytest.raises(ConfigError, match="not allowed"):
        dona.ingest_bytes(CATALOG, catalog="../etc")
    assert [c.name for c in dona.catalogs()] == ["shop-eu"]


def test_bad_search_arguments(dona):
    dona.ingest_bytes(CATALOG, filename="shop.csv")
    with pytest.raises(DonaError, match="empty"):
        dona.search("   ")
    with pytest.raises(DonaError, match="k must be"):
        dona.search("x", k=0)
    with pytest.raises(ConfigError, match="unknown search mode"):
        dona.search("x", mode="magic")
    assert dona.search("zzzz qqqq", mode="lexical").results == []


@pytest.mark.postgres
def test_ingest_and_search_on_postgresql(settings, postgres_db):
    service = Dona(settings, store=Store(postgres_db))
    service.ingest_bytes(CATALOG, filename="shop.csv")
    service.ingest_bytes(CATALOG, filename="shop.csv")
    response = service.search("speaker", k=2, filters=Filters(max_price=60), mode="lexical")
    assert [r.product.id for r in response.results] == ["s1"]
    assert json.loads(json.dumps(response.to_dict()))["version"] == 2
    service.store.dispose()


def test_rollback_restores_an_earlier_version(dona):
    dona.ingest_bytes(CATALOG, filename="v1.csv")
    dona.ingest_bytes(CATALOG.replace(b"Acme", b"Zed"), filename="v2.csv")
    assert dona.search("portable", k=1, mode="lexical").results[0].product.brand == "Zed"
    rows = dona.versions()
    assert [(r.version, r.status, r.restorable) for r in rows] == [
        (2, "live", False),
        (1, "ready", True),
    ]
    assert dona.rollback(None, 1) == 1
    assert live(dona).number == 1
    assert dona.search("portable", k=1, mode="lexical").results[0].product.brand == "Acme"
    assert dona.catalogs()[0].version == 1
    with pytest.raises(DonaError, match="version 1 of 'default' is already live"):
        dona.rollback(None, 1)
    with pytest.raises(
        DonaError, match=r"version 7 of 'default' cannot be restored.*restorable: 2"
    ):
        dona.rollback(None, 7)
    # rolling forward again works, and later ingests never prune the live version
    assert dona.rollback("default", 2) == 2
    dona.rollback("default", 1)
    for i in range(3):
        dona.ingest_bytes(CATALOG + f"x{i},Extra {i},Acme,1,1,x\n".encode(), filename="n.csv")
    dona.rollback("default", 3)
    dona.ingest_bytes(CATALOG + b"y1,Extra y,Acme,1,1,x\n", filename="n.csv")
    statuses = {r.version: r.status for r in dona.versions()}
    assert statuses[6] == "live" and statuses[5] == "ready"


def test_rollback_refuses_damaged_files(settings, dona):
    dona.ingest_bytes(CATALOG, filename="v1.csv")
    dona.ingest_bytes(CATALOG.replace(b"Acme", b"Zed"), filename="v2.csv")
    old = dona.settings.index_root / "default" / "v00001" / "vectors.f32.npy"
    np.save(old, np.load(old) * 0.5)
    with pytest.raises(IndexIntegrityError, match="checksum"):
        dona.rollback(None, 1)
    assert live(dona).number == 2  # still serving the version that was live


def test_check_upload_changes_nothing_and_honours_the_column_mapping(dona):
    data = b"sku,label,vendor,cost\nA1,Blue Speaker,Acme,12.50\nA2,,Acme,3\n"
    result = dona.check_upload(data, "m.csv", columns={"title": "label", "price": "cost"})
    assert [p.title for p in result.products] == ["Blue Speaker"]
    assert result.products[0].brand == "Acme" and result.products[0].price == 12.5
    assert [(p.row, p.reason) for p in result.problems] == [(3, "missing title")]
    assert dona.catalogs() == []  # nothing was written
    with pytest.raises(CatalogFileError, match="no column 'nope' to use as title"):
        dona.check_upload(data, "m.csv", columns={"title": "nope"})
    with pytest.raises(CatalogFileError, match="'colour' is not a product field"):
        dona.check_upload(data, "m.csv", columns={"colour": "label"})
    report = dona.ingest_bytes(
        data, "m.csv", columns={"title": "label", "price": "cost", "brand": ""}, skip_bad_rows=True
    )
    assert report.products == 1
    product = dona.search("speaker", k=1, mode="lexical").results[0].product
    assert product.title == "Blue Speaker" and product.brand is None  # brand left out


def test_rollback_also_restores_the_index_phase(dona):
    dona.ingest_bytes(CATALOG, filename="v1.csv")
    assert dona.adopt_phase(None, "int8", {}, evidence={"adopted": "int8"}) == 2
    assert dona.store.catalog("default").phase == "int8"
    dona.rollback(None, 1)
    assert dona.store.catalog("default").phase == "f32"
    assert dona.served().manifest["phase"] == "f32"
    report = dona.ingest_bytes(CATALOG.replace(b"Acme", b"Zed"), filename="v3.csv")
    assert dona.store.live_version("default").phase == "f32" and report.version == 3


# ---- authorization in the core ----------------------------------------------------------

PASSWORD = "correct horse battery"


def test_merchant_operations_refuse_other_catalogs(dona):
    """Without the UI: every merchant operation takes the signed-in merchant and acts on
    their catalog only; the operator (no merchant) is unchanged."""
    dona.ingest_bytes(CATALOG, filename="k.csv", catalog="kitchen")
    dona.ingest_bytes(CATALOG, filename="g.csv", catalog="garden")
    dona.ingest_bytes(CATALOG.replace(b"Acme", b"Zed"), filename="g2.csv", catalog="garden")
    dona.accounts.create("kim", PASSWORD, "kitchen")
    kim = dona.accounts.authenticate("kim", PASSWORD)
    refusals = {
        "ingest": lambda: dona.ingest_bytes(CATALOG, "x.csv", catalog="garden", merchant=kim),
        "rollback": lambda: dona.rollback("garden", 1, merchant=kim),
        "adopt": lambda: dona.adopt_phase("garden", "int8", {}, {}, merchant=kim),
        "versions": lambda: dona.versions("garden", merchant=kim),
        "runs": lambda: dona.ingest_runs("garden", merchant=kim),
        "setting": lambda: dona.index_setting("garden", merchant=kim),
    }
    for name, operation in refusals.items():
        with pytest.raises(AuthError, match="manages catalog 'kitchen', not 'garden'"):
            operation()
        assert live(dona, "garden").number == 2, name
    assert len(dona.versions("garden")) == 2  # nothing was built for garden
    # their own catalog, named or not
    assert dona.ingest_bytes(CATALOG, "k2.csv", merchant=kim).catalog == "kitchen"
    assert [v.version for v in dona.versions(merchant=kim)] == [2, 1]
    assert dona.rollback(None, 1, merchant=kim) == 1
    assert dona.ingest_runs("kitchen", merchant=kim)[0].status == "succeeded"
    assert dona.index_setting(merchant=kim).catalog == "kitchen"
    # the operator may do anything
    assert dona.rollback("garden", 1) == 1


def test_a_changed_or_made_up_merchant_is_refused(dona):
    dona.ingest_bytes(CATALOG, filename="k.csv", catalog="kitchen")
    dona.accounts.create("kim", PASSWORD, "kitchen")
    kim = dona.accounts.authenticate("kim", PASSWORD)
    with pytest.raises(SignedOutError):
        dona.versions(merchant=Merchant("kim", "kitchen"))  # not from a sign-in
    dona.accounts.set_password("kim", "another good password")
    with pytest.raises(SignedOutError, match="sign in again"):
        dona.ingest_bytes(CATALOG, "k.csv", merchant=kim)
    kim = dona.accounts.authenticate("kim", "another good password")
    dona.accounts.remove("kim")
    with pytest.raises(SignedOutError):
        dona.rollback(None, 1, merchant=kim)
    assert live(dona, "kitchen").number == 1


def test_merchant_session_idle_timeout(dona):
    dona.accounts.create("kim", PASSWORD, "kitchen")
    kim = dona.accounts.authenticate("kim", PASSWORD)
    timeout = dona.settings.merchant_idle_timeout_s
    assert dona.merchant_session(kim, idle_s=None) == kim  # just signed in
    assert dona.merchant_session(kim, idle_s=timeout - 1) == kim
    with pytest.raises(SignedOutError, match="signed out after 30 minutes without activity"):
        dona.merchant_session(kim, idle_s=timeout + 1)


def test_catalog_names_are_matched_whole_and_case_blind(dona):
    dona.ingest_bytes(CATALOG, filename="s.csv", catalog="shop")
    for bad in ("shop\n", "shop\r\n", "Shop", "SHOP"):
        with pytest.raises(ConfigError):
            dona.ingest_bytes(CATALOG, filename="s.csv", catalog=bad)
    assert [c.name for c in dona.catalogs()] == ["shop"]
    assert not (dona.settings.index_root / "Shop").exists()


# ---- durability -----------------------------------------------------------------------


def test_version_files_are_fsynced_before_going_live(dona, monkeypatch):
    """Every file and folder of a version, and the folder holding it (the rename), reach
    the disk before the live pointer moves."""
    synced: list[str] = []
    real_fsync = os.fsync

    def recording_fsync(fd):
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        return real_fsync(fd)

    real_activate = dona.store.activate
    synced_at_activation: list[set[str]] = []

    def activate(*args, **kwargs):
        synced_at_activation.append(set(synced))
        return real_activate(*args, **kwargs)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    monkeypatch.setattr(dona.store, "activate", activate)
    dona.ingest_bytes(CATALOG, filename="shop.csv")
    catalog_dir = dona.settings.index_root / "default"
    files = [p for p in (catalog_dir / "v00001").rglob("*")]
    assert len(files) > 5
    # paths as fsynced: the files were written under v00001.building, then renamed
    building = {p.replace("v00001.building", "v00001") for p in synced_at_activation[0]}
    missing = {str(p) for p in files} - building
    assert not missing, missing
    assert str(catalog_dir / "v00001") in building  # the folder's own entries
    assert str(catalog_dir) in synced_at_activation[0]  # the rename


def test_a_damaged_live_version_falls_back_to_the_previous_one(settings, dona, monkeypatch):
    dona.ingest_bytes(CATALOG, filename="v1.csv")
    dona.ingest_bytes(CATALOG.replace(b"Acme", b"Zed"), filename="v2.csv")
    damaged = dona.settings.index_root / "default" / "v00002" / "vectors.f32.npy"
    np.save(damaged, np.load(damaged) * 0.5)

    hashed: list[str] = []
    import dona.index.base as index_base

    real_sha256 = index_base.sha256_file
    monkeypatch.setattr(
        index_base, "sha256_file", lambda path: hashed.append(path.name) or real_sha256(path)
    )
    replica = Dona(settings)  # a process starting after the damage
    response = replica.search("portable speaker", k=1, mode="lexical")
    assert response.version == 1 and response.results[0].product.brand == "Acme"
    assert replica.served().fallback_for == 2
    assert live(replica).number == 2  # nothing switched in the database
    (event,) = [r for r in replica.ingest_runs() if r.status == "damaged"]
    assert "version 2 cannot be served" in event.message
    assert "served version 1 instead" in event.message and "checksum" in event.message
    # verified once, at load: later requests hash nothing
    hashed.clear()
    for _ in range(3):
        assert replica.search("speaker", k=1).version == 1
    assert hashed == []
    # an unchanged re-ingest must not hard-link (and so bless) the damaged files
    report = replica.ingest_bytes(CATALOG.replace(b"Acme", b"Zed"), filename="v3.csv")
    v3 = dona.settings.index_root / "default" / "v00003"
    assert (v3 / "vectors.f32.npy").stat().st_ino != damaged.stat().st_ino
    fresh = Dona(settings).search("portable", k=1, mode="lexical")
    assert (fresh.version, report.version) == (3, 3)
    assert fresh.results[0].product.brand == "Zed"


def test_a_damaged_only_version_is_not_rehashed_per_request(settings, dona, monkeypatch):
    dona.ingest_bytes(CATALOG, filename="v1.csv")
    damaged = dona.settings.index_root / "default" / "v00001" / "vectors.f32.npy"
    np.save(damaged, np.load(damaged) * 0.5)
    import dona.index.base as index_base

    hashed: list[str] = []
    real_sha256 = index_base.sha256_file
    monkeypatch.setattr(
        index_base, "sha256_file", lambda path: hashed.append(path.name) or real_sha256(path)
    )
    replica = Dona(settings)
    with pytest.raises(IndexIntegrityError, match="checksum"):
        replica.search("speaker")
    first = len(hashed)
    for _ in range(3):
        with pytest.raises(IndexIntegrityError, match="checksum"):
            replica.search("speaker")
    assert first > 0 and len(hashed) == first  # before: every request hashed every file
    event = replica.ingest_runs()[0]  # newest first, after the ingest that made v1
    assert event.status == "damaged" and "upload the catalog again" in event.message
    # a new upload replaces it and is served at once
    assert replica.ingest_bytes(CATALOG, filename="v2.csv").version == 2
    assert replica.search("speaker", k=1).version == 2


def test_a_busy_catalog_is_left_alone_at_start(settings, dona):
    """A start while another process ingests must not take that ingest's build folder."""
    from dona.service.versions import catalog_lock

    dona.ingest_bytes(CATALOG, filename="v1.csv")
    building = dona.settings.index_root / "default" / "v00002.building"
    building.mkdir()
    with catalog_lock(settings, "default"):
        Dona(settings).close()
        assert building.is_dir()
        with pytest.raises(CatalogBusyError):
            dona.ingest_bytes(CATALOG, filename="v2.csv")
    Dona(settings).close()
    assert not building.exists()
