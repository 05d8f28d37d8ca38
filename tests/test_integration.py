"""The real stack: real demo products, the real bundled embedding model, SQLite."""

import pytest
from conftest import demo_products, demo_products_matching, to_jsonl

from dona.config import Settings
from dona.search import Filters
from dona.service import Dona


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    # A uniform sample keeps the catalog's natural term statistics; a few products per
    # queried kind are added so every query has enough right answers.
    items = demo_products(19_406)[::16]
    seen = {i["id"] for i in items}
    extra = demo_products_matching(["speaker", "mouse", "keyboard", "headset", "usb flash"], 10)
    items += [i for i in extra if i["id"] not in seen]
    settings = Settings(data_dir=tmp_path_factory.mktemp("integration"))
    service = Dona(settings)
    report = service.ingest_bytes(
        to_jsonl(items), filename="demo.jsonl", prices_in_minor_units=True
    )
    assert report.products == len(items) and report.embedded > 0
    yield service, items
    service.store.dispose()


def titles(response):
    return [r.product.title.lower() for r in response.results]


@pytest.mark.parametrize(
    "query, word",
    [
        ("bluetooth speaker", "speaker"),
        ("wireless mouse", "mouse"),
        ("keyboard", "keyboard"),
        ("headset", "headset"),
        ("usb flash drive", "usb flash"),
    ],
)
def test_finds_the_right_kind_of_product(shop, query, word):
    """End to end on real data; ranking quality itself is measured with labelled queries
    in evals/ (titles are a rough oracle: a "loudspeaker" or "buds" counts as a miss)."""
    service, _ = shop
    hybrid = titles(service.search(query, k=5))
    assert word in hybrid[0] and sum(word in t for t in hybrid) >= 3, hybrid
    for mode in ("dense", "lexical"):
        top = titles(service.search(query, k=5, mode=mode))
        assert sum(word in t for t in top) >= 2, (mode, top)


def test_known_products_are_found_by_their_own_words(shop):
    service, items = shop
    for item in items[::37]:
        ids = [r.product.id for r in service.search(item["title"], k=3).results]
        assert item["id"] in ids, item["title"]


def test_dense_understands_paraphrase(shop):
    service, _ = shop
    top = titles(service.search("something to type on", k=5, mode="dense"))
    assert any("keyboard" in t for t in top), top


def test_filters_with_real_data(shop):
    service, _ = shop
    response = service.search("speaker", k=20, filters=Filters(max_price=50.0))
    assert response.results
    assert all(r.product.price is not None and r.product.price <= 50 for r in response.results)
    brand = response.results[0].product.brand
    branded = service.search("speaker", k=10, filters=Filters(brands=(brand,)))
    assert branded.results and all(r.product.brand == brand for r in branded.results)


def test_reingest_of_unchanged_catalog_uses_the_cache(shop):
    service, items = shop
    report = service.ingest_bytes(
        to_jsonl(items), filename="demo.jsonl", prices_in_minor_units=True
    )
    assert report.embedded == 0 and report.cached == len(items)
