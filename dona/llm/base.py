"""Language model backends: one small protocol, a registry chosen by `DONA_LLM_BACKEND`.

A backend turns a `Prompt` into a stream of text pieces. The chat core (dona/chat.py)
builds the prompt from product facts it looked up itself, and renders what the shopper
sees about a product from the database, so a backend only ever writes prose.

Built-ins, registered the way a plugin would be (entry point group `dona.llm_backends`):

- `llamacpp`: a GGUF model in process through llama-cpp-python (dona/models.py bundles
  three); one `Llama` per model file per process, calls serialised by a lock (a `Llama` is
  not thread-safe), the system prompt's KV state reused between turns.
- `openai`: any OpenAI-compatible server (OpenAI, `python -m llama_cpp.server`, vLLM,
  Ollama, an RKLLM board's server); HTTP 503 "busy" is retried with a bounded back-off.
- `rkllm`: Rockchip's `librkllmrt.so` through ctypes (dona/rkllm.py), on NPU boards.
- `extractive`: no model at all; a templated answer from the products. The chat falls
  back to it whenever another backend fails.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from dona.errors import ConfigError, LLMError
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
    writes its answer from `products` and `nothing_fits` in `language`."""

    messages: list[dict[str, str]]
    products: list[ProductFacts]
    language: str  # "en" or "es"
    nothing_fits: bool = False
    constraint: str = ""  # what the shopper asked for, in words, for "nothing fits"
    max_tokens: int = 160
    temperature: float = 0.1
    stop: tuple[str, ...] = ()


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


# --- extractive -------------------------------------------------------------------------

TEMPLATES = {
    "en": {
        "intro": "Here is what I found in the catalog:",
        "none": "Nothing in the catalog matches {constraint}. The closest alternatives:",
        "empty": "I could not find anything matching that in the catalog.",
        "price": "{price}",
    },
    "es": {
        "intro": "Esto es lo que encontré en el catálogo:",
        "none": "No hay nada en el catálogo que cumpla {constraint}. Las alternativas más "
        "cercanas:",
        "empty": "No encontré nada parecido en el catálogo.",
        "price": "{price}",
    },
}


def extractive_answer(prompt: Prompt, limit: int = 3) -> str:
    """A plain answer from the facts alone: what a shopper needs when no model is there."""
    words = TEMPLATES.get(prompt.language, TEMPLATES["en"])
    if not prompt.products:
        return words["empty"]
    head = (
        words["none"].format(constraint=prompt.constraint or "that")
        if prompt.nothing_fits
        else words["intro"]
    )
    lines = [head]
    for p in prompt.products[:limit]:
        brand = f"{p.brand} " if p.brand and not p.title.lower().startswith(p.brand.lower()) else ""
        price = f", {p.price}" if p.price else ""
        lines.append(f"- {brand}{p.title}{price} [{p.id}]")
    return "\n".join(lines)


class ExtractiveBackend:
    name = "extractive"
    model = "none"

    def stream(self, prompt: Prompt, usage: Usage | None = None) -> Iterator[str]:
        text = extractive_answer(prompt)
        if usage is not None:
            usage.prompt_tokens = 0
            usage.completion_tokens = 0
        yield text


@llm_backends.register("extractive")
def extractive_backend(settings: Any = None) -> ExtractiveBackend:
    return ExtractiveBackend()


# --- openai-compatible server ----------------------------------------------------------


class OpenAIBackend:
    """Any OpenAI-compatible chat completions endpoint, streamed."""

    name = "openai"

    def __init__(
        self,
        model: str,
        base_url: str | None,
        api_key: str | None,
        timeout_s: float = 60.0,
        retries: int = 3,
    ):
        try:
            import openai
        except ImportError as exc:  # pragma: no cover - part of the base install
            raise LLMError(f"the openai package is not installed: {exc}") from exc
        self._openai = openai
        self.model = model
        self.retries = retries
        # A local server needs no key, but the client insists on one.
        self._client = openai.OpenAI(
            base_url=base_url,
            api_key=api_key or "not-needed",
            timeout=timeout_s,
            max_retries=0,  # we retry 503 ourselves (bounded) and fall back on the rest
        )

    def _create(self, prompt: Prompt) -> Any:
        delay = 0.5
        for attempt in range(self.retries + 1):
            try:
                return self._client.chat.completions.create(
                    model=self.model,
                    messages=prompt.messages,  # type: ignore[arg-type]
                    max_tokens=prompt.max_tokens,
                    temperature=prompt.temperature,
                    stop=list(prompt.stop) or None,
                    stream=True,
                    stream_options={"include_usage": True},
                )
            except self._openai.APIStatusError as exc:
                # An RKLLM board's server handles one request at a time and says 503.
                if exc.status_code == 503 and attempt < self.retries:
                    time.sleep(delay)
                    delay = min(delay * 2, 8.0)
                    continue
                raise LLMError(_describe_openai_error(exc)) from exc
            except self._openai.OpenAIError as exc:
                raise LLMError(_describe_openai_error(exc)) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def stream(self, prompt: Prompt, usage: Usage | None = None) -> Iterator[str]:
        response = self._create(prompt)
        try:
            for chunk in response:
                if chunk.usage is not None and usage is not None:
                    usage.prompt_tokens = chunk.usage.prompt_tokens
                    usage.completion_tokens = chunk.usage.completion_tokens
                for choice in chunk.choices:
                    piece = choice.delta.content if choice.delta else None
                    if piece:
                        if usage is not None and chunk.usage is None:
                            usage.completion_tokens += 1
                        yield piece
        except self._openai.OpenAIError as exc:
            raise LLMError(_describe_openai_error(exc)) from exc
        finally:
            response.close()


def _describe_openai_error(exc: Exception) -> str:
    status = getattr(exc, "status_code", None)
    if status == 401:
        return "the language model server refused the API key (DONA_LLM_API_KEY)"
    if status == 404:
        return "the language model server does not know that model (DONA_LLM_MODEL)"
    if status == 503:
        return "the language model server stayed busy; try again in a moment"
    name = type(exc).__name__
    if name == "APITimeoutError":
        return "the language model server did not answer in time (DONA_LLM_TIMEOUT_S)"
    if name == "APIConnectionError":
        return "the language model server cannot be reached (DONA_LLM_BASE_URL)"
    return f"the language model server failed: {exc}"


@llm_backends.register("openai")
def openai_backend(settings: Any) -> OpenAIBackend:
    if not settings.llm_base_url and not settings.llm_api_key:
        raise LLMError(
            "the openai backend needs DONA_LLM_BASE_URL (a local server) or DONA_LLM_API_KEY"
        )
    return OpenAIBackend(
        model=settings.llm_model,
        base_url=settings.llm_base_url,
        api_key=settings.llm_api_key,
        timeout_s=settings.llm_timeout_s,
        retries=settings.llm_retries,
    )


# --- llama.cpp in process --------------------------------------------------------------


class LlamaCppBackend:
    """A GGUF model in this process. One `Llama` per (file, context size), shared by every
    session and serialised by a lock. Each turn's prompt starts with the same system
    message, so llama.cpp's prefix matching reuses its KV state: only the new part of the
    prompt is evaluated."""

    name = "llamacpp"
    _loaded: dict[tuple[str, int], tuple[Any, threading.Lock]] = {}
    _loading = threading.Lock()

    def __init__(self, model_path: str, model: str, n_ctx: int = 4096, threads: int | None = None):
        self.model_path = model_path
        self.model = model
        self.n_ctx = n_ctx
        self.threads = threads

    def _llama(self) -> tuple[Any, threading.Lock]:
        key = (self.model_path, self.n_ctx)
        with self._loading:
            if key not in self._loaded:
                try:
                    from llama_cpp import Llama
                except ImportError as exc:
                    raise LLMError(
                        f"llama-cpp-python is not installed ({exc}); run `make install`"
                    ) from exc
                try:
                    llama = Llama(
                        model_path=self.model_path,
                        n_ctx=self.n_ctx,
                        n_threads=self.threads,
                        verbose=False,
                    )
                except (ValueError, RuntimeError, OSError) as exc:
                    raise LLMError(f"cannot load the model {self.model_path}: {exc}") from exc
                self._loaded[key] = (llama, threading.Lock())
            return self._loaded[key]

    def stream(self, prompt: Prompt, usage: Usage | None = None) -> Iterator[str]:
        llama, lock = self._llama()
        with lock:
            try:
                chunks = llama.create_chat_completion(
                    messages=prompt.messages,
                    max_tokens=prompt.max_tokens,
                    temperature=prompt.temperature,
                    stop=list(prompt.stop) or None,
                    stream=True,
                )
                for chunk in chunks:
                    piece = chunk["choices"][0]["delta"].get("content")
                    if piece:
                        if usage is not None:
                            usage.completion_tokens += 1
                        yield piece
            except (ValueError, RuntimeError) as exc:
                raise LLMError(f"the local model failed: {exc}") from exc
            if usage is not None:
                usage.prompt_tokens = _prompt_tokens(llama, usage)


def _prompt_tokens(llama: Any, usage: Usage) -> int:
    """Prompt tokens (chat template included): what the context holds after the answer,
    minus the answer (the last sampled token is never evaluated, hence the +1)."""
    return max(0, int(llama.n_tokens) - usage.completion_tokens + 1)


@llm_backends.register("llamacpp")
def llamacpp_backend(settings: Any) -> LlamaCppBackend:
    from dona.models import resolve_gguf

    path, name = resolve_gguf(settings.llm_model, settings.model_cache_dir)
    return LlamaCppBackend(path, name, settings.llm_context_tokens, settings.threads)


def resolve_backend_name(settings: Any, name: str | None = None) -> str:
    """`auto`: rkllm where Rockchip's runtime loads and DONA_LLM_MODEL is an .rkllm file
    (an NPU board), else llamacpp (a local GGUF on the CPU)."""
    name = name or settings.llm_backend
    if name != "auto":
        return name
    from dona.rkllm import rkllm_library_loads

    model = str(settings.llm_model).lower()
    if model.endswith(".rkllm") and rkllm_library_loads(settings.rkllm_library):
        return "rkllm"
    return "llamacpp"


def create_backend(settings: Any, name: str | None = None) -> LLMBackend:
    """The backend named by `name` or settings. Raises `LLMError`/`ConfigError`."""
    name = resolve_backend_name(settings, name)
    factory = llm_backends.get(name)
    try:
        return factory(settings)
    except (LLMError, ConfigError):
        raise
    except Exception as exc:  # a plugin's own failure: still a plain message
        raise LLMError(f"the {name} backend cannot start: {exc}") from exc


from dona import rkllm as _rkllm  # noqa: E402, F401 - registers the "rkllm" backend
