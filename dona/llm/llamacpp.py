"""The `llamacpp` backend: a GGUF model in process through llama-cpp-python.

One `Llama` per model file per process, calls serialised by a lock (a `Llama` is not
thread-safe), the system prompt's KV state reused between turns.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from dona.errors import LLMError
from dona.llm.base import Prompt, Usage, llm_backends

if TYPE_CHECKING:
    from dona.config import Settings


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


@llm_backends.register(
    "llamacpp", "a GGUF model in process (llama-cpp-python): a bundled model or any .gguf path"
)
def llamacpp_backend(settings: Settings) -> LlamaCppBackend:
    from dona.llm.models import resolve_gguf

    path, name = resolve_gguf(settings.llm_model, settings.model_cache_dir)
    return LlamaCppBackend(path, name, settings.llm_context_tokens, settings.threads)
