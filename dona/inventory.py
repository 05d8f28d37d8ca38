"""What this installation offers: every registered embedder, index phase and chat backend
(built-ins and plugins alike) and the bundled chat models, one `PluginInfo` each."""

from __future__ import annotations

from dona.embed import embedders
from dona.index import phases
from dona.llm import llm_backends
from dona.llm.models import BUNDLED
from dona.registry import PluginInfo

SECTIONS = ("embedders", "index phases", "chat backends", "chat models")


def inventory() -> dict[str, list[PluginInfo]]:
    """Section name -> entries, in `SECTIONS` order."""
    return {
        "embedders": embedders.describe(),
        "index phases": phases.describe(),
        "chat backends": llm_backends.describe(),
        "chat models": [model.info for model in BUNDLED.values()],
    }
