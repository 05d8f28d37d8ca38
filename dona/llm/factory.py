"""Choosing and starting the chat backend from the settings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dona.errors import ConfigError, LLMError
from dona.llm.base import LLMBackend, llm_backends

if TYPE_CHECKING:
    from dona.config import Settings


def resolve_backend_name(settings: Settings, name: str | None = None) -> str:
    """`auto`: rkllm where Rockchip's runtime loads and DONA_LLM_MODEL is an .rkllm file
    (an NPU board), else llamacpp (a local GGUF on the CPU)."""
    name = name or settings.llm_backend
    if name != "auto":
        return name
    from dona.llm.rkllm import rkllm_library_loads

    model = str(settings.llm_model).lower()
    if model.endswith(".rkllm") and rkllm_library_loads(settings.rkllm_library):
        return "rkllm"
    return "llamacpp"


def create_backend(settings: Settings, name: str | None = None) -> LLMBackend:
    """The backend named by `name` or settings. Raises `LLMError`/`ConfigError`."""
    name = resolve_backend_name(settings, name)
    factory = llm_backends.get(name)
    try:
        return factory(settings)
    except (LLMError, ConfigError):
        raise
    except Exception as exc:  # a plugin's own failure: still a plain message
        raise LLMError(f"the {name} backend cannot start: {exc}") from exc
