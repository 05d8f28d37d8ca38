"""Storage against SQLite and a real PostgreSQL server (started by the test session)."""

import numpy as np
import pytest

from dona.catalog import Product
from dona.errors import CatalogNotFoundError
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
