"""Hybrid product search: BM25 + dense vectors, fused with reciprocal rank fusion, under
structured filters (price range, brands, category, in stock) applied to both retrievers
before ranking, so a filter never silently drops the best matches."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np

from dona.errors import QueryError

if TYPE_CHECKING:
    from dona.config import Settings

Mode = Literal["hybrid", "dense", "lexical"]
MAX_QUERY_CHARS = 500


@dataclass(frozen=True)
class Filters:
    min_price: float | None = None
    max_price: float | None = None
    brands: tuple[str, ...] = ()
    category: str | None = None
    in_stock: bool = False

    def __post_init__(self):
        for name in ("min_price", "max_price"):
            value = getattr(self, name)
            if value is not None and (not np.isfinite(value) or value < 0):
                raise QueryError(
                    f"{name.replace('_', ' ')} must be a number of at least 0",
                    code=f"{name}_invalid",
                )
        if (
            self.min_price is not None
            and self.max_price is not None
            and self.min_price > self.max_price
        ):
            raise QueryError(
                f"the minimum price ({self.min_price:g}) is above the maximum ({self.max_price:g})",
                code="price_range",
                params={"min": self.min_price, "max": self.max_price},
            )

    @property
    def active(self) -> bool:
        return bool(
            self.min_price is not None
            or self.max_price is not None
            or self.brands
            or self.category
            or self.in_stock
        )

    def mask(self, facets: dict[str, np.ndarray]) -> np.ndarray | None:
        """Boolean mask over positions, or None when nothing is filtered."""
        if not self.active:
            return None
        price = facets["price"]
        mask = np.ones(price.shape[0], dtype=bool)
        if self.min_price is not None:
            mask &= price >= self.min_price - 1e-9  # NaN (no price) compares False: excluded
        if self.max_price is not None:
            mask &= price <= self.max_price + 1e-9
        if self.brands:
            wanted = {b.casefold().strip() for b in self.brands}
            mask &= np.isin(facets["brand"], list(wanted))
        if self.category:
            needle = self.category.casefold().strip()
            mask &= np.array([needle in c for c in facets["category"]], dtype=bool)
        if self.in_stock:
            mask &= facets["stock"] != 0  # unknown stock (-1) counts as available
        return mask


@dataclass
class Hit:
    position: int
    score: float
    sources: dict[str, int] = field(default_factory=dict)  # retriever -> 1-based rank


def clean_query(query: str) -> str:
    if not isinstance(query, str):
        raise QueryError("the query must be text")
    query = " ".join(query.split())
    if not query:
        raise QueryError("type what you are looking for (the query is empty)", code="query_empty")
    return query[:MAX_QUERY_CHARS]


def reciprocal_rank_fusion(
    rankings: dict[str, Sequence[int]], k: int = 60, weights: dict[str, float] | None = None
) -> list[Hit]:
    """score(d) = sum over rankings of weight / (k + rank(d)); ties keep first-seen order."""
    hits: dict[int, Hit] = {}
    for name, ranking in rankings.items():
        weight = (weights or {}).get(name, 1.0)
        for rank, position in enumerate(ranking, start=1):
            hit = hits.setdefault(int(position), Hit(int(position), 0.0))
            hit.score += weight / (k + rank)
            hit.sources[name] = rank
    return sorted(hits.values(), key=lambda h: -h.score)


BRIDGED = "+bridge"  # suffix of the rankings of a query put in the catalog's words


def hybrid_fusion(rankings: dict[str, Sequence[int]], settings: Settings) -> list[Hit]:
    """The hybrid ranking: RRF of the dense and BM25 rankings with the configured weights.
    The one fusion rule, used by live search and by the evaluation harness alike.

    When the language bridge changed the query ("dense+bridge", "bm25+bridge" present),
    the shopper's own words still count, at `bridge_original_weight` of their weight: a
    wrong bridged word then costs less, and words both sides share count twice."""
    bridged = any(name.endswith(BRIDGED) for name in rankings)
    weights = {}
    for name in rankings:
        weight = settings.bm25_weight if name.removesuffix(BRIDGED) == "bm25" else 1.0
        if bridged and not name.endswith(BRIDGED):
            weight *= settings.bridge_original_weight
        weights[name] = weight
    return reciprocal_rank_fusion(rankings, k=settings.rrf_k, weights=weights)
