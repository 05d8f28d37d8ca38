"""The `openai` backend: any OpenAI-compatible server (OpenAI, `python -m llama_cpp.server`,
vLLM, Ollama, an RKLLM board's server); HTTP 503 "busy" is retried with a bounded back-off.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from dona.errors import LLMError
from dona.llm.base import Prompt, Usage, llm_backends

if TYPE_CHECKING:
    from dona.config import Settings


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
    if status == 404:  # an unknown model (OpenAI, vLLM) or a base URL without its /v1
        return (
            "the language model server has no such model or path (HTTP 404): check "
            "DONA_LLM_MODEL and DONA_LLM_BASE_URL"
        )
    if status == 503:
        return "the language model server stayed busy; try again in a moment"
    name = type(exc).__name__
    if name == "APITimeoutError":
        return "the language model server did not answer in time (DONA_LLM_TIMEOUT_S)"
    if name == "APIConnectionError":
        return "the language model server cannot be reached (DONA_LLM_BASE_URL)"
    return f"the language model server failed: {exc}"


@llm_backends.register(
    "openai", "any OpenAI-compatible server (DONA_LLM_BASE_URL, DONA_LLM_API_KEY)"
)
def openai_backend(settings: Settings) -> OpenAIBackend:
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
