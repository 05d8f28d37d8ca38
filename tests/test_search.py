import numpy as np
import pytest

from dona.errors import QueryError
from dona.search import Filters, clean_query, reciprocal_rank_fusion


def test_rrf_scores_and_order():
    hits = reciprocal_rank_fusion({"a": [1, 2, 3], "b": [3, 1]}, k=60)
    scores = {h.position: h.score for h in hits}
    assert scores[1] == pytest.approx(1 / 61 + 1 / 62)
    assert scores[3] == pytest.approx(1 / 63 + 1 / 61)
    assert scores[2] == pytest.approx(1 / 62)
    assert [h.position for h in hits] == [1, 3, 2]
    assert hits[0].sources == {"a": 1, "b": 2}


def test_rrf_weights():
    hits = reciprocal_rank_fusion({"a": [1], "b": [2]}, k=60, weights={"b": 2.0})
    assert [h.position for h in hits] == [2, 1]


FACETS = {
    "price": np.array([5.0, 20.0, np.nan, 50.0]),
    "brand": np.array(["acme", "bolt", "acme", "ácme"], dtype=object),
    "category": np.array(["audio > speakers", "cables", "", "audio"], dtype=object),
    "stock": np.array([0, 3, -1, 1]),
}


def test_filter_masks():
    assert Filters().mask(FACETS) is None
    assert Filters(max_price=20).mask(FACETS).tolist() == [True, True, False, False]
    assert Filters(min_price=20).mask(FACETS).tolist() == [False, True, False, True]
    assert Filters(brands=("ACME ",)).mask(FACETS).tolist() == [True, False, True, False]
    assert Filters(category="Audio").mask(FACETS).tolist() == [True, False, False, True]
    assert Filters(in_stock=True).mask(FACETS).tolist() == [False, True, True, True]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"min_price": 10, "max_price": 5}, "above the maximum"),
        ({"min_price": -1}, "at least 0"),
        ({"max_price": float("nan")}, "at least 0"),
    ],
)
def test_bad_filters(kwargs, message):
    with pytest.raises(QueryError, match=message):
        Filters(**kwargs)


def test_clean_query():
    assert clean_query("  quiet \n speaker ") == "quiet speaker"
    assert len(clean_query("x" * 5000)) == 500
    with pytest.raises(QueryError, match="empty"):
        clean_query(" \t ")
