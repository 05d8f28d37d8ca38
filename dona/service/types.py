"""What the service returns: plain dataclasses, so callers never hold SQL rows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from dona.catalog import Product
from dona.errors import RowProblem

StageProgress = Callable[[str, int, int], None]  # (stage, done, total)
INGEST_STAGES = ("parse", "store", "embed", "index")


@dataclass(frozen=True)
class CatalogInfo:
    name: str
    version: int | None  # the live version's number; None before the first ingest
    products: int
    phase: str | None
    embedder: str | None
    updated: str | None  # ISO time the live version went live

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class VersionInfo:
    version: int
    status: str  # live, ready (kept), building, failed, retired
    products: int
    source: str | None
    phase: str | None
    created: str | None
    restorable: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class IngestRunInfo:
    started: str
    source: str | None
    status: str  # running, succeeded, rejected, failed
    rows_total: int | None
    rows_ingested: int | None
    rows_skipped: int | None
    message: str | None


@dataclass(frozen=True)
class IndexSetting:
    """How a catalog is served: the live version and the index phase new versions use."""

    catalog: str
    version: int
    phase: str
    config: dict[str, Any]


@dataclass
class IngestReport:
    catalog: str
    version: int
    products: int
    rows_total: int
    skipped: list[RowProblem]
    embedded: int  # texts actually run through the model (cache misses)
    cached: int
    timings: dict[str, float]
    format: str
    mapped_columns: dict[str, str]
    skipped_count: int = -1  # every bad row left out (`skipped` lists the first ones)

    def __post_init__(self) -> None:
        if self.skipped_count < 0:
            self.skipped_count = len(self.skipped)

    @property
    def seconds(self) -> float:
        return sum(self.timings.values())


@dataclass
class SearchResult:
    product: Product
    score: float
    sources: dict[str, int] = field(default_factory=dict)
    position: int = -1  # row in the served version's vector files

    def to_dict(self) -> dict[str, Any]:
        p = self.product
        return {
            "id": p.id,
            "title": p.title,
            "brand": p.brand,
            "price": p.price,
            "currency": p.currency,
            "score": round(float(self.score), 6),
            "category": p.category,
            "description": p.description,
            "url": p.url,
            "image_url": p.image_url,
            "stock": p.stock,
            "matched_by": sorted(self.sources),
        }


@dataclass
class SearchResponse:
    query: str
    catalog: str
    version: int
    mode: str
    results: list[SearchResult]
    timings_ms: dict[str, float]
    # the query in the catalog's own words, when the language bridge changed it
    # ("auriculares" -> "headphones" on an English catalog); None otherwise
    searched_as: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "catalog": self.catalog,
            "version": self.version,
            "mode": self.mode,
            "searched_as": self.searched_as,
            "results": [r.to_dict() for r in self.results],
        }
