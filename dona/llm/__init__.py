"""Language model backends: one small protocol (`base.LLMBackend`), a registry chosen by
`DONA_LLM_BACKEND`, one module per built-in backend, and the bundled GGUF models."""

from dona.llm.base import LLMBackend, ProductFacts, Prompt, Usage, llm_backends
from dona.llm.factory import create_backend, resolve_backend_name

__all__ = [
    "LLMBackend",
    "ProductFacts",
    "Prompt",
    "Usage",
    "create_backend",
    "llm_backends",
    "resolve_backend_name",
]
