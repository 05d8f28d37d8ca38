"""Language model backends: one small protocol, a registry chosen by `DONA_LLM_BACKEND`.

A backend turns a `Prompt` into a stream of text pieces. The chat core (dona/chat/)
builds the prompt from product facts it looked up itself, and renders what the shopper
sees about a product from the database, so a backend only ever writes prose.

Built-ins, one module each, registered the way a plugin would be (listed in
`dona.plugins`; entry point group `dona.llm_backends` for third parties):

- `llamacpp`: a GGUF model in process through llama-cpp-python (dona/llm/models.py bundles
  three); one `Llama` per model file per process, calls serialised by a lock (a `Llama` is
  not thread-safe), the system prompt's KV state reused between turns.
- `openai`: any OpenAI-compatible server (OpenAI, `python -m llama_cpp.server`, vLLM,
  Ollama, an RKLLM board's server); HTTP 503 "busy" is retried with a bounded back-off.
- `rkllm`: Rockchip's `librkllmrt.so` through ctypes (dona/llm/rkllm/), on NPU boards.
- `extractive`: no model at all; a templated answer from the products. The chat falls
  back to it whenever another backend fails.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from dona.registry import Registry


@dataclass(frozen=True)
class ProductFacts:
    """What the model is told about one product: compact facts, never the whole page."""

    id: str
    title: str
    brand: str | None
    price: str | None  # already formatted, e.g. "$12.95"
    category: str | None
    specs: dict[str, str]
    summary: str | None  # the first sentence or so of the description
    in_stock: bool | None

    def as_line(self) -> str:
        """`id=...; title=...; price=...`: explicit field names, which the 1.5B model
        cited most reliably (evals/reports/llm_demo.md)."""
        parts = [f"id={self.id}", f"title={self.title}"]
        if self.brand:
            parts.append(f"brand={self.brand}")
        parts.append(f"price={self.price or 'unknown'}")
        if self.category:
            parts.append(f"category={self.category}")
        if self.in_stock is not None:
            parts.append("in stock" if self.in_stock else "out of stock")
        parts += [f"{k}={v}" for k, v in self.specs.items()]
        if self.summary:
            parts.append(f"about={self.summary}")
        return "; ".join(parts)


@dataclass
class Prompt:
    """Everything a backend may use. LLM backends send `messages`; the extractive backend
    says `draft` (the chat's computed answer), or writes one from `products` and
    `nothing_fits` in `language`."""

    messages: list[dict[str, str]]
    products: list[ProductFacts]
    language: str  # "en" or "es"
    nothing_fits: bool = False
    constraint: str = ""  # what the shopper asked for, in words, for "nothing fits"
    max_tokens: int = 160
    temperature: float = 0.1
    stop: tuple[str, ...] = ()
    draft: str | None = None  # the answer DONA computed; what `extractive` says


@dataclass
class Usage:
    """Filled in by a backend while it streams (thread-safe: one per call)."""

    prompt_tokens: int | None = None
    completion_tokens: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class LLMBackend(Protocol):
    name: str  # registry name, e.g. "llamacpp"
    model: str  # what it runs, e.g. "qwen2.5-1.5b-instruct-q4_k_m"

    def stream(self, prompt: Prompt, usage: Usage | None = None) -> Iterator[str]:
        """Yield the answer piece by piece. Raise `LLMError` on any failure."""
        ...


llm_backends: Registry[LLMBackend] = Registry("LLM backend", "dona.llm_backends")
