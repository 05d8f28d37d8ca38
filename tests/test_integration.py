"""The real stack: real demo products, the real bundled embedding model, SQLite."""

import pytest
from conftest import demo_products, demo_products_matching, to_jsonl

from dona.config import Settings
from dona.search import Filters
from dona.service import Dona


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    items = demo_products_matching(
        ["speaker", "mouse", "keyboard", "headset", "toner", "usb flash"], per_word=40
    )
    items += [i for i in demo_products(300) if i["id"] not in {x["id"] for x in items}]
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
        ("gaming headset", "headset"),
        ("laser toner", "toner"),
        ("usb stick", "usb flash"),
    ],
)
def test_finds_the_right_kind_of_product(shop, query, word):
    service, _ = shop
    for mode in ("hybrid", "dense", "lexical"):
        top = titles(service.search(query, k=5, mode=mode))
        assert sum(word in t for t in top) >= (4 if mode != "lexical" else 3), (mode, top)


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
