"""The `llamacpp` backend: a GGUF model in process through llama-cpp-python.

One `Llama` per model file per process, calls serialised by a lock (a `Llama` is not
thread-safe). Reading the prompt is most of a local model's time to first token, so:

- the prompt is rendered with the model's own chat template (from the GGUF) and
  tokenized here, which makes the tokens llama.cpp must still read countable
  (`Usage.extra["new_prompt_tokens"]`, the rest is `cached_tokens`);
- `warm()` reads the system prompt once and saves that state (`Llama.save_state`); a
  turn whose prompt starts with it but finds another prompt in the KV cache restores it
  (`load_state`) instead of reading the system prompt again. Between turns, llama.cpp's
  own prefix matching keeps it (the chat's system prompt is one constant).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dona.errors import LLMError
from dona.llm.base import Prompt, Usage, llm_backends

if TYPE_CHECKING:
    from dona.config import Settings


@dataclass
class _Loaded:
    llama: Any
    lock: threading.Lock
    formatter: Any  # the GGUF's chat template, or None (then llama's own chat handler)
    prefixes: dict[str, tuple[list[int], Any]] = field(default_factory=dict)  # messages -> state


def _common_prefix(a: Any, b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if int(x) != y:
            break
        n += 1
    return n


class LlamaCppBackend:
    """A GGUF model in this process. One `Llama` per (file, context size), shared by every
    session and serialised by a lock."""

    name = "llamacpp"
    _loaded: dict[tuple[str, int], _Loaded] = {}
    _loading = threading.Lock()
    MAX_PREFIXES = 4  # saved system-prompt states per model (one per distinct system prompt)

    def __init__(self, model_path: str, model: str, n_ctx: int = 4096, threads: int | None = None):
        self.model_path = model_path
        self.model = model
        self.n_ctx = n_ctx
        self.threads = threads or os.cpu_count() or 1

    def _load(self) -> _Loaded:
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
                        n_threads_batch=self.threads,
                        verbose=False,
                    )
                except (ValueError, RuntimeError, OSError) as exc:
                    raise LLMError(f"cannot load the model {self.model_path}: {exc}") from exc
                self._loaded[key] = _Loaded(llama, threading.Lock(), _formatter(llama))
            return self._loaded[key]

    def _tokens(self, loaded: _Loaded, messages: list[dict[str, str]], generate: bool) -> list[int]:
        rendered = loaded.formatter(messages=messages)
        text = rendered.prompt
        if not generate:  # the template's text for these messages only, no answer header
            text = _without_generation_prompt(loaded, messages, text)
        return loaded.llama.tokenize(
            text.encode("utf-8"), add_bos=not rendered.added_special, special=True
        )

    def warm(self, prompt: Prompt) -> None:
        """Load the model and read `prompt.messages` (the part every prompt starts with:
        the system prompt and any fixed examples) now, keeping that state so every turn
        starts after it."""
        loaded = self._load()
        if loaded.formatter is None or not prompt.messages:
            return
        key = _key(prompt.messages)
        with loaded.lock:
            if key in loaded.prefixes:
                return
            try:
                tokens = self._tokens(loaded, prompt.messages, generate=False)
                loaded.llama.reset()
                loaded.llama.eval(tokens)
                state = loaded.llama.save_state()
            except (ValueError, RuntimeError) as exc:
                raise LLMError(f"the local model failed: {exc}") from exc
            if len(loaded.prefixes) >= self.MAX_PREFIXES:
                loaded.prefixes.pop(next(iter(loaded.prefixes)))
            loaded.prefixes[key] = (tokens, state)

    def stream(self, prompt: Prompt, usage: Usage | None = None) -> Iterator[str]:
        loaded = self._load()
        llama = loaded.llama
        with loaded.lock:
            try:
                if loaded.formatter is None:
                    yield from self._stream_chat(llama, prompt, usage)
                    return
                tokens = self._tokens(loaded, prompt.messages, generate=True)
                saved = loaded.prefixes.get(_key(prompt.messages[:-1]))
                if saved is not None:
                    prefix, state = saved
                    cached = _common_prefix(llama._input_ids[: llama.n_tokens], tokens)
                    if tokens[: len(prefix)] == prefix and cached < len(prefix):
                        llama.load_state(state)  # another prompt was read since: skip re-reading
                cached = _common_prefix(llama._input_ids[: llama.n_tokens], tokens)
                if usage is not None:
                    usage.prompt_tokens = len(tokens)
                    usage.extra["cached_tokens"] = cached
                    usage.extra["new_prompt_tokens"] = len(tokens) - cached
                stop = [s for s in (*prompt.stop, _eos_text(llama)) if s]
                chunks = llama.create_completion(
                    prompt=tokens,
                    max_tokens=prompt.max_tokens,
                    temperature=prompt.temperature,
                    stop=stop or None,
                    stream=True,
                )
                for chunk in chunks:
                    piece = chunk["choices"][0].get("text")
                    if piece:
                        if usage is not None:
                            usage.completion_tokens += 1
                        yield piece
            except (ValueError, RuntimeError) as exc:
                raise LLMError(f"the local model failed: {exc}") from exc

    def _stream_chat(self, llama: Any, prompt: Prompt, usage: Usage | None) -> Iterator[str]:
        """A GGUF without a chat template: llama-cpp-python's own chat handler."""
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
        if usage is not None:
            # what the context holds after the answer, minus the answer (the last sampled
            # token is never evaluated, hence the +1)
            usage.prompt_tokens = max(0, int(llama.n_tokens) - usage.completion_tokens + 1)


def _key(messages: list[dict[str, str]]) -> str:
    return "\x1e".join(f"{m['role']}\x1f{m['content']}" for m in messages)


def _eos_text(llama: Any) -> str:
    eos = llama.token_eos()
    return llama._model.token_get_text(eos) if eos is not None and eos >= 0 else ""


def _formatter(llama: Any) -> Any:
    """The GGUF's own chat template as a formatter, or None when it has none."""
    template = (llama.metadata or {}).get("tokenizer.chat_template")
    if not template:
        return None
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    bos = llama.token_bos()
    return Jinja2ChatFormatter(
        template=template,
        eos_token=_eos_text(llama),
        bos_token=llama._model.token_get_text(bos) if bos is not None and bos >= 0 else "",
        stop_token_ids=[llama.token_eos()],
    )


def _without_generation_prompt(loaded: _Loaded, messages: list[dict[str, str]], text: str) -> str:
    """The template's text for `messages` without the assistant header it appends: the
    longest prefix shared with the same messages followed by a user turn."""
    probe = loaded.formatter(messages=[*messages, {"role": "user", "content": "\x00"}]).prompt
    n = 0
    for a, b in zip(text, probe, strict=False):
        if a != b:
            break
        n += 1
    # back to the end of the last complete message (template markup ends in a newline)
    cut = text.rfind("\n", 0, n + 1)
    return text[: cut + 1] if cut >= 0 else text[:n]


@llm_backends.register(
    "llamacpp", "a GGUF model in process (llama-cpp-python): a bundled model or any .gguf path"
)
def llamacpp_backend(settings: Settings) -> LlamaCppBackend:
    from dona.llm.models import resolve_gguf

    path, name = resolve_gguf(settings.llm_model, settings.model_cache_dir)
    return LlamaCppBackend(path, name, settings.llm_context_tokens, settings.threads)
