"""Retrieval metrics over labelled queries (TSV: query_id, query / query_id, product_id,
rating). Gain 2^rating - 1 for nDCG; relevant = rating >= `relevant_at` for recall/MRR."""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from dona.errors import DonaError


@dataclass
class LabelledQueries:
    queries: dict[str, str]  # query_id -> text
    labels: dict[str, dict[str, int]]  # query_id -> product_id -> rating

    def judged(self, relevant_at: int = 2) -> list[str]:
        """Query ids with at least one relevant product (the others are excluded)."""
        return [
            q
            for q in self.queries
            if any(r >= relevant_at for r in self.labels.get(q, {}).values())
        ]


def _read_tsv(path: Path, columns: Sequence[str]) -> list[dict[str, str]]:
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.DictReader(fh, delimiter="\t"))
    except OSError as exc:
        raise DonaError(f"cannot read {path}: {exc.strerror}") from None
    if not rows or not set(columns) <= set(rows[0]):
        raise DonaError(f"{path} needs the tab-separated columns {', '.join(columns)}")
    return rows


def load_labelled_queries(queries: str | Path, labels: str | Path) -> LabelledQueries:
    qrows = _read_tsv(Path(queries), ("query_id", "query"))
    lrows = _read_tsv(Path(labels), ("query_id", "product_id", "rating"))
    out: dict[str, dict[str, int]] = {}
    for number, row in enumerate(lrows, start=2):
        try:
            rating = int(float(row["rating"]))
        except (TypeError, ValueError):
            raise DonaError(
                f"{labels} line {number}: rating {row['rating']!r} is not a number"
            ) from None
        out.setdefault(row["query_id"], {})[row["product_id"]] = rating
    return LabelledQueries({r["query_id"]: r["query"] for r in qrows}, out)


def ndcg_at(ranked: Sequence[str], ratings: dict[str, int], k: int = 10) -> float:
    gain = sum((2 ** ratings.get(d, 0) - 1) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sorted(ratings.values(), reverse=True)[:k]
    best = sum((2**r - 1) / math.log2(i + 2) for i, r in enumerate(ideal))
    return gain / best if best > 0 else 0.0


def recall_at(
    ranked: Sequence[str], ratings: dict[str, int], k: int, relevant_at: int = 2
) -> float:
    relevant = {d for d, r in ratings.items() if r >= relevant_at}
    return len(relevant & set(ranked[:k])) / len(relevant) if relevant else 0.0


def mrr_at(
    ranked: Sequence[str], ratings: dict[str, int], k: int = 10, relevant_at: int = 2
) -> float:
    for i, d in enumerate(ranked[:k]):
        if ratings.get(d, 0) >= relevant_at:
            return 1.0 / (i + 1)
    return 0.0


def evaluate(
    data: LabelledQueries,
    rank: Callable[[str], Sequence[str]],
    relevant_at: int = 2,
) -> dict[str, float]:
    """Mean metrics of `rank(query_text) -> product ids, best first` over judged queries."""
    qids = data.judged(relevant_at)
    totals = {"ndcg@10": 0.0, "recall@10": 0.0, "recall@100": 0.0, "mrr@10": 0.0}
    for q in qids:
        ranked = list(rank(data.queries[q]))
        ratings = data.labels[q]
        totals["ndcg@10"] += ndcg_at(ranked, ratings, 10)
        totals["recall@10"] += recall_at(ranked, ratings, 10, relevant_at)
        totals["recall@100"] += recall_at(ranked, ratings, 100, relevant_at)
        totals["mrr@10"] += mrr_at(ranked, ratings, 10, relevant_at)
    n = max(len(qids), 1)
    return {name: value / n for name, value in totals.items()} | {"queries": len(qids)}
