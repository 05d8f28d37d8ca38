"""The application core behind the CLI and the UI: `Dona` and what it returns."""

from dona.service.dona import Dona
from dona.service.serving import ServedVersion
from dona.service.types import (
    INGEST_STAGES,
    CatalogInfo,
    IndexSetting,
    IngestReport,
    IngestRunInfo,
    SearchResponse,
    SearchResult,
    StageProgress,
    VersionInfo,
)

__all__ = [
    "INGEST_STAGES",
    "CatalogInfo",
    "Dona",
    "IndexSetting",
    "IngestReport",
    "IngestRunInfo",
    "SearchResponse",
    "SearchResult",
    "ServedVersion",
    "StageProgress",
    "VersionInfo",
]
