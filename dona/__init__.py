"""DONA: a grounded product assistant for online shops.

The public API is what `__all__` names; the README documents it. The core package has no
UI imports: the Streamlit pages (`ui/`) and the CLI (`dona.cli`) are thin shells over
`Dona`. Names load on first use, so `import dona` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "Dona": "dona.service",
    "SearchResponse": "dona.service",
    "SearchResult": "dona.service",
    "IngestReport": "dona.service",
    "CatalogInfo": "dona.service",
    "VersionInfo": "dona.service",
    "Settings": "dona.config",
    "get_settings": "dona.config",
    "DonaError": "dona.errors",
    "Filters": "dona.search",
    "Product": "dona.catalog",
    "ChatEngine": "dona.chat",
    "ChatAnswer": "dona.chat",
    "ChatResponse": "dona.chat",
    "Conversation": "dona.chat",
}
__all__ = [
    "CatalogInfo",
    "ChatAnswer",
    "ChatEngine",
    "ChatResponse",
    "Conversation",
    "Dona",
    "DonaError",
    "Filters",
    "IngestReport",
    "Product",
    "SearchResponse",
    "SearchResult",
    "Settings",
    "VersionInfo",
    "get_settings",
]

if TYPE_CHECKING:
    from dona.catalog import Product
    from dona.chat import ChatAnswer, ChatEngine, ChatResponse, Conversation
    from dona.config import Settings, get_settings
    from dona.errors import DonaError
    from dona.search import Filters
    from dona.service import (
        CatalogInfo,
        Dona,
        IngestReport,
        SearchResponse,
        SearchResult,
        VersionInfo,
    )


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'dona' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
