"""The Spanish sample shop (catalog/tienda_es), as a merchant would upload it: Spanish
headers, Spanish titles and prices, no flags. Its judged queries (Spanish and English)
must find its products with the real models (MiniLM dense, USE bridge)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dona.config import Settings
from dona.eval.metrics import ndcg_at
from dona.service import Dona

SHOP = Path(__file__).resolve().parents[2] / "catalog" / "tienda_es"


@pytest.fixture(scope="module")
def tienda(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("tienda")
    service = Dona(
        Settings(
            data_dir=data_dir,
            database_url=f"sqlite:///{data_dir / 'dona.db'}",
            embedder="minilm-onnx",
        )
    )
    report = service.ingest_file(SHOP / "productos.csv", catalog="tienda")
    assert report.products == 300 and not report.skipped
    yield service
    service.close()


def _judged() -> list[tuple[str, str, set[str]]]:
    rows = (SHOP / "consultas.tsv").read_text(encoding="utf-8").splitlines()[1:]
    return [
        (language, query, set(relevant.split(",")))
        for _, language, query, relevant in (row.split("\t") for row in rows)
    ]


@pytest.mark.slow
def test_the_shop_reads_as_spanish(tienda):
    served = tienda.served("tienda")
    assert served.language == "es"
    assert served.manifest["lexical"]["language"] == "es"
    assert served.bridge is not None


@pytest.mark.slow
@pytest.mark.parametrize("language, floor", [("es", 0.85), ("en", 0.6)])
def test_judged_queries_find_the_products(tienda, language, floor):
    """Floors below today's figures (es 0.93, en 0.74 nDCG@10; README "Across
    languages"): a regression in the analyzer, the bridge or the mapping breaks them."""
    scores = []
    for query_language, query, relevant in _judged():
        if query_language != language:
            continue
        ranked = [r.product.id for r in tienda.search(query, catalog="tienda", k=10).results]
        scores.append(ndcg_at(ranked, dict.fromkeys(relevant, 1), 10))
    assert len(scores) == 20
    assert float(np.mean(scores)) >= floor
