"""Storage against SQLite and a real PostgreSQL server (started by the test session)."""

import numpy as np
import pytest

from dona.catalog import Product
from dona.errors import CatalogNotFoundError, ConfigError
from dona.store.rows import BUILDING, FAILED, READY
from dona.store.store import Store


@pytest.fixture
def store(database_url):
    store = Store(database_url)
    store.create_schema()
    yield store
    store.dispose()


def products(n, prefix="p"):
    return [
        Product(
            id=f"{prefix}{i}",
            title=f"Product {i} «ünïcode»",
            brand="Acme" if i % 2 else "Bolt",
            price_minor=100 * i,
            currency="EUR",
            stock=i % 3,
            attributes={"colour": "red", "n": i},
        )
        for i in range(n)
    ]


def test_versions_switch_atomically(store):
    catalog = store.ensure_catalog("shop")
    assert store.ensure_catalog("shop").id == catalog.id
    with pytest.raises(CatalogNotFoundError, match="no live version"):
        store.live_version("shop")
    with pytest.raises(CatalogNotFoundError, match="no catalog named 'other'"):
        store.live_version("other")

    v1 = store.new_version(catalog.id, "a.csv", "0" * 64)
    store.insert_products(v1.id, products(5))
    assert store.version(v1.id).status == BUILDING
    with pytest.raises(CatalogNotFoundError):
        store.live_version("shop")  # a building version is never served
    store.activate(catalog.id, v1.id)
    assert store.live_version("shop").id == v1.id

    v2 = store.new_version(catalog.id, "b.csv", "1" * 64)
    assert v2.number == 2
    store.insert_products(v2.id, products(3, prefix="q"))
    assert store.live_version("shop").id == v1.id  # still the old one while v2 builds
    store.activate(catalog.id, v2.id)
    live = store.live_version("shop")
    assert (live.id, live.status) == (v2.id, READY)
    assert [c.name for c, _ in store.catalogs()] == ["shop"]


def test_products_round_trip_and_facets(store):
    catalog = store.ensure_catalog("shop")
    version = store.new_version(catalog.id, None, "0" * 64)
    store.insert_products(version.id, products(4))
    got = store.products_at(version.id, [3, 1])
    assert got[3].id == "p3" and got[3].title == "Product 3 «ünïcode»"
    assert got[3].attributes == {"colour": "red", "n": 3} and got[3].price == 3.0
    assert store.products_by_id(version.id, ["p2"])["p2"].brand == "Bolt"
    facets = store.facets(version.id)
    assert facets["product_id"].tolist() == ["p0", "p1", "p2", "p3"]
    assert facets["price"].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert facets["brand"].tolist() == ["bolt", "acme", "bolt", "acme"]
    assert store.brands(version.id) == ["Acme", "Bolt"]
    assert [p.id for p in store.all_products(version.id)] == ["p0", "p1", "p2", "p3"]


def test_stale_builds_are_abandoned(store):
    catalog = store.ensure_catalog("shop")
    version = store.new_version(catalog.id, None, "0" * 64)
    run = store.start_run(catalog.id, "x.csv")
    stale = store.abandon_stale_builds(catalog.id)
    assert [v.id for v in stale] == [version.id]
    assert store.version(version.id).status == FAILED
    (run_row,) = store.runs("shop")
    assert (run_row.id, run_row.status, run_row.message) == (run, "failed", "interrupted")


def test_embedding_cache(store):
    vectors = {"h1": np.arange(4, dtype=np.float32), "h2": np.ones(4, dtype=np.float32)}
    store.cache_embeddings("m", vectors)
    store.cache_embeddings("m", {"h1": vectors["h1"]})  # a concurrent duplicate is harmless
    found = store.cached_embeddings("m", ["h1", "h2", "h3"], dims=4)
    assert set(found) == {"h1", "h2"}
    np.testing.assert_array_equal(found["h1"], vectors["h1"])
    assert store.cached_embeddings("other-model", ["h1"], dims=4) == {}
    assert store.cached_embeddings("m", ["h1"], dims=8) == {}  # wrong shape is a miss


def test_many_cache_lookups_stay_under_parameter_limits(store):
    vectors = {f"h{i}": np.full(2, i, np.float32) for i in range(2500)}
    store.cache_embeddings("m", vectors)
    assert len(store.cached_embeddings("m", list(vectors), dims=2)) == 2500


# ---- no secrets in messages ---------------------------------------------------------

SECRET = "hunter2-s3cret"


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql+psycopg://dona:{SECRET}@db:notaport/dona",  # a port that is no number
        f"postgresql+psycopg://dona:{SECRET}@x@db:5432/dona",  # an unencoded '@'
        f"nonsense://dona:{SECRET}@db/dona",  # no such dialect
        f"dona:{SECRET} at db",  # not a URL at all
    ],
)
def test_a_bad_database_url_is_refused_without_its_password(url):
    with pytest.raises(ConfigError) as refused:
        Store(url).create_schema()
    message = str(refused.value)
    assert "DONA_DATABASE_URL" in message
    assert "s3cret" not in message and "hunter2" not in message


def test_an_unreachable_database_is_named_without_its_password():
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    for store in (
        Store(f"postgresql+psycopg://dona:{SECRET}@127.0.0.1:{port}/dona"),
        Store(f"postgresql+psycopg://dona@127.0.0.1:{port}/dona", password=SECRET),
    ):
        with pytest.raises(ConfigError, match=f"cannot open the database at .*127.0.0.1:{port}"):
            store.create_schema()
        try:
            store.create_schema()
        except ConfigError as exc:
            assert SECRET not in str(exc) and "hunter2" not in str(exc)


def test_the_password_is_set_apart_from_the_url():
    """Any character works in DONA_DATABASE_PASSWORD: no URL encoding to get wrong."""
    password = "p@ss:w/rd#?%&"
    store = Store("postgresql+psycopg://dona@db:5432/dona", password=password)
    url = store.engine.url
    assert (url.username, url.password, url.host, url.port) == ("dona", password, "db", 5432)
    store.dispose()


@pytest.mark.postgres
def test_a_separate_password_reaches_postgresql(postgres_db):
    """The test server trusts local connections, so this shows the URL still works with
    the password set apart (the password's checking is PostgreSQL's)."""
    store = Store(postgres_db, password="p@ss:w/rd#?%&")
    store.create_schema()
    assert store.ensure_catalog("shop").name == "shop"
    store.dispose()


def test_catalog_names_differing_only_by_case_are_refused(store):
    store.ensure_catalog("shop")
    with pytest.raises(ConfigError, match="differs only by case from the existing catalog 'shop'"):
        store.ensure_catalog("Shop")
    assert [c.name for c, _ in store.catalogs()] == ["shop"]


def test_events_are_recorded_once(store):
    store.ensure_catalog("shop")
    for _ in range(3):  # every app process that meets the damaged version
        store.record_event("shop", "damaged", "version 2 cannot be served")
    (row,) = store.runs("shop")
    assert (row.status, row.message) == ("damaged", "version 2 cannot be served")
    store.record_event("nowhere", "damaged", "ignored")  # an unknown catalog: nothing
