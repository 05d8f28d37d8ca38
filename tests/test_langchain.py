"""`dona.langchain.DonaRetriever`: LangChain's standard retriever suite plus our own checks,
over a real DONA service (SQLite, the hashing embedder from conftest) with a small catalog."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from conftest import HashingEmbedder

pytest.importorskip("langchain_core")  # optional extra: skip the module cleanly without it
pytest.importorskip("langchain_tests")

from langchain_core.documents import Document  # noqa: E402
from langchain_tests.integration_tests import RetrieversIntegrationTests  # noqa: E402

from dona.config import Settings  # noqa: E402
from dona.embed import embedders  # noqa: E402
from dona.errors import CatalogNotFoundError, QueryError  # noqa: E402
from dona.langchain import DonaRetriever  # noqa: E402
from dona.search import Filters  # noqa: E402
from dona.service import Dona  # noqa: E402

CATALOG_NAME = "shop"
CATALOG = b"""id,title,brand,description,price,currency,category,url,image_url,stock
s1,Portable Bluetooth Speaker,Acme,Small speaker with a 12 hour battery,49.00,EUR,Audio,https://shop.example/s1,https://shop.example/s1.jpg,4
s2,Waterproof Bluetooth Speaker,Bolt,Floats in the pool,89.00,EUR,Audio,https://shop.example/s2,,0
s3,Bluetooth Headphones,Acme,Over-ear headphones with noise cancelling,120.00,EUR,Audio,,,2
s4,Smart Speaker with Voice Assistant,Echoic,Speaker that answers questions,59.90,EUR,Audio,,,7
s5,Bookshelf Speaker Pair,Bolt,Two passive speakers for a stereo,149.00,EUR,Audio,,,1
c1,USB-C Cable 2m,Bolt,Braided charging cable,9.99,EUR,Cables,,,10
c2,HDMI Cable,Acme,,15.00,EUR,Cables,,,5
l1,Desk Lamp,Lumen,LED lamp with a dimmer,35.00,EUR,Lighting,,,3
"""


@pytest.fixture(scope="module")
def hashing_embedder_for_module():
    with embedders.registered("test-hashing", HashingEmbedder):
        yield


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory, hashing_embedder_for_module) -> Iterator[Dona]:
    """One service with the catalog ingested, shared by the module (searching is read-only).
    Settings are explicit so that no DONA_* variable of the caller's shell leaks in."""
    data_dir = tmp_path_factory.mktemp("dona-langchain")
    service = Dona(
        Settings(
            data_dir=data_dir,
            database_url=f"sqlite:///{data_dir / 'dona.db'}",
            embedder="test-hashing",
        )
    )
    service.ingest_bytes(CATALOG, filename="shop.csv", catalog=CATALOG_NAME)
    yield service
    service.close()


# ---- LangChain's standard retriever suite ------------------------------------------------


# The suite's async test needs pytest-asyncio's marker (the project runs it in strict mode);
# the marker on the class also reaches the sync tests, where it is harmless, so that one
# warning is silenced.
@pytest.mark.asyncio
@pytest.mark.filterwarnings("ignore:.*marked with '@pytest.mark.asyncio' but it is not an async")
class TestDonaRetrieverStandard(RetrieversIntegrationTests):
    service: Dona

    @pytest.fixture(autouse=True)
    def _shop(self, shop: Dona) -> None:
        # The suite reads its constructor parameters from properties, not fixtures: hand
        # the module's service to this test instance before the suite's fixtures run.
        self.service = shop

    @property
    def retriever_constructor(self) -> type[DonaRetriever]:
        return DonaRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {"service": self.service, "catalog": CATALOG_NAME}

    @property
    def retriever_query_example(self) -> str:
        return "bluetooth speaker"


# ---- our own checks -----------------------------------------------------------------------


def test_documents_carry_product_metadata(shop: Dona) -> None:
    docs = DonaRetriever(service=shop, catalog=CATALOG_NAME, k=8).invoke("portable speaker")
    by_id = {d.id: d for d in docs}
    doc = by_id["s1"]
    live = shop.store.live_version(CATALOG_NAME)
    assert doc.metadata == {
        "id": "s1",
        "title": "Portable Bluetooth Speaker",
        "brand": "Acme",
        "price": 49.0,
        "currency": "EUR",
        "category": "Audio",
        "url": "https://shop.example/s1",
        "image_url": "https://shop.example/s1.jpg",
        "score": doc.metadata["score"],
        "catalog": CATALOG_NAME,
        "catalog_version": live.number,
    }
    assert doc.page_content == (
        "Portable Bluetooth Speaker. Acme. Audio. Small speaker with a 12 hour battery"
    )
    # Missing fields stay None rather than empty strings; scores follow DONA's ranking.
    assert by_id["s3"].metadata["url"] is None and by_id["s3"].metadata["image_url"] is None
    expected = shop.search("portable speaker", catalog=CATALOG_NAME, k=8)
    assert [d.id for d in docs] == [r.product.id for r in expected.results]
    assert [d.metadata["score"] for d in docs] == pytest.approx([r.score for r in expected.results])


def test_price_filter_is_respected(shop: Dona) -> None:
    retriever = DonaRetriever(
        service=shop, catalog=CATALOG_NAME, k=8, filters=Filters(max_price=60)
    )
    docs = retriever.invoke("speaker")
    assert docs and all(d.metadata["price"] <= 60 for d in docs)
    assert {d.id for d in docs} == {"s1", "s4", "c1", "c2", "l1"}  # dense ranks all allowed
    # Per-call filter keywords lay over the retriever's filters.
    docs = retriever.invoke("speaker", min_price=50, brands="Echoic")
    assert [d.id for d in docs] == ["s4"]
    docs = retriever.invoke("speaker", filters=Filters(min_price=100))
    assert {d.id for d in docs} == {"s3", "s5"}


def test_k_is_respected(shop: Dona) -> None:
    retriever = DonaRetriever(service=shop, catalog=CATALOG_NAME, k=2)
    assert len(retriever.invoke("speaker")) == 2
    assert len(retriever.invoke("speaker", k=5)) == 5
    assert len(retriever.invoke("speaker", k=100)) == 8  # never more than the catalog holds


def test_invoke_and_batch(shop: Dona) -> None:
    retriever = DonaRetriever(service=shop, catalog=CATALOG_NAME, k=1, mode="lexical")
    assert retriever.invoke("hdmi")[0].id == "c2"
    results = retriever.batch(["hdmi", "desk lamp", "usb-c cable"])
    assert [docs[0].id for docs in results] == ["c2", "l1", "c1"]
    assert all(isinstance(d, Document) for docs in results for d in docs)


@pytest.mark.asyncio  # pytest-asyncio comes with langchain-tests
async def test_ainvoke(shop: Dona) -> None:
    retriever = DonaRetriever(service=shop, catalog=CATALOG_NAME, k=1, mode="lexical")
    assert (await retriever.ainvoke("desk lamp"))[0].id == "l1"


def test_default_catalog_is_the_only_one(shop: Dona) -> None:
    docs = DonaRetriever(service=shop, k=1, mode="lexical").invoke("hdmi")
    assert docs[0].metadata["catalog"] == CATALOG_NAME


def test_unknown_catalog_raises_dona_error(shop: Dona, dona: Dona) -> None:
    with pytest.raises(CatalogNotFoundError, match="no catalog named 'nope'"):
        DonaRetriever(service=shop, catalog="nope").invoke("speaker")
    with pytest.raises(CatalogNotFoundError, match="no catalog has been ingested"):
        DonaRetriever(service=dona).invoke("speaker")  # conftest's empty service


def test_dona_errors_propagate_unchanged(shop: Dona) -> None:
    retriever = DonaRetriever(service=shop, catalog=CATALOG_NAME)
    with pytest.raises(QueryError, match="query is empty"):
        retriever.invoke("   ")
    with pytest.raises(QueryError, match="minimum price"):
        retriever.invoke("speaker", min_price=100, max_price=10)
    with pytest.raises(TypeError, match="max_prise"):
        retriever.invoke("speaker", max_prise=10)  # a misspelt filter never widens results


def test_rest_of_dona_does_not_import_langchain() -> None:
    import subprocess
    import sys

    code = (
        "import sys, dona, dona.service, dona.search, dona.cli; "
        "print(sorted(m for m in sys.modules if m.startswith(('langchain', 'dona.langchain'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
