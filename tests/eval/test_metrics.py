import math

import pytest

from dona.errors import DonaError
from dona.eval.metrics import evaluate, load_labelled_queries, mrr_at, ndcg_at, recall_at


def test_ndcg_by_hand():
    ratings = {"a": 3, "b": 1, "c": 0}
    assert ndcg_at(["a", "b"], ratings) == pytest.approx(1.0)
    expected = (1 / math.log2(2) + 7 / math.log2(3)) / (7 + 1 / math.log2(3))
    assert ndcg_at(["b", "a"], ratings) == pytest.approx(expected)
    assert ndcg_at(["x"], ratings) == 0.0


def test_recall_and_mrr():
    ratings = {"a": 3, "b": 2, "c": 1}
    assert recall_at(["c", "a", "x"], ratings, 2) == 0.5
    assert recall_at(["c", "a", "b"], ratings, 10) == 1.0
    assert mrr_at(["c", "x", "b"], ratings) == pytest.approx(1 / 3)


def test_load_and_evaluate(tmp_path):
    (tmp_path / "q.tsv").write_text("query_id\tquery\nq1\tred\nq2\tblue\nq3\tnothing\n")
    (tmp_path / "l.tsv").write_text(
        "query_id\tproduct_id\trater_1\trating\nq1\tr1\t3\t3\nq2\tb1\t2\t2\nq3\tz\t0\t0\n"
    )
    data = load_labelled_queries(tmp_path / "q.tsv", tmp_path / "l.tsv")
    assert data.judged() == ["q1", "q2"]  # q3 has no relevant product: excluded
    metrics = evaluate(data, lambda q: {"red": ["r1"], "blue": ["x", "b1"]}[q])
    assert metrics["queries"] == 2
    assert metrics["recall@10"] == 1.0 and metrics["mrr@10"] == pytest.approx(0.75)


def test_bad_files(tmp_path):
    (tmp_path / "q.tsv").write_text("id,query\n")
    with pytest.raises(DonaError, match="query_id, query"):
        load_labelled_queries(tmp_path / "q.tsv", tmp_path / "q.tsv")
    with pytest.raises(DonaError, match="cannot read"):
        load_labelled_queries(tmp_path / "none.tsv", tmp_path / "none.tsv")
