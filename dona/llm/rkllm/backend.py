"""The `rkllm` backend: an `.rkllm` model on a Rockchip NPU through `binding`."""

from __future__ import annotations

import atexit
import codecs
import contextlib
import ctypes
import queue
import threading
import time
from collections.abc import Iterator
from ctypes import (
    c_void_p,
)
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dona.errors import LLMError
from dona.llm.base import Prompt, Usage, llm_backends
from dona.llm.rkllm.binding import (
    _DONE,
    QWEN_TEMPLATE,
    ChatTemplate,
    LLMCallState,
    RKLLMInferMode,
    RKLLMInferParam,
    RKLLMInput,
    RKLLMInputType,
    _open_library,
    _Runtime,
    _StopFilter,
)

# --- the backend -------------------------------------------------------------------------

if TYPE_CHECKING:
    from dona.config import Settings


class RKLLMBackend:
    """An `.rkllm` model on the board's NPU. Loaded on first use, shared by every backend
    object for the same (library, model, context size)."""

    name = "rkllm"
    _runtimes: dict[tuple[str, str, int], _Runtime] = {}
    _loading = threading.Lock()

    def __init__(
        self,
        model_path: str,
        library: str = "librkllmrt.so",
        context_tokens: int = 4096,
        max_tokens: int = 160,
        temperature: float = 0.1,
        timeout_s: float = 60.0,
        template: ChatTemplate = QWEN_TEMPLATE,
    ):
        self.model_path = model_path
        self.model = Path(model_path).name.removesuffix(".rkllm")
        self.library = library
        self.context_tokens = context_tokens
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.timeout_s = timeout_s
        self.template = template

    @property
    def _key(self) -> tuple[str, str, int]:
        return (self.library, self.model_path, self.context_tokens)

    def _runtime(self) -> _Runtime:
        with self._loading:
            runtime = self._runtimes.get(self._key)
            if runtime is None:
                runtime = _Runtime(
                    self.library,
                    self.model_path,
                    self.context_tokens,
                    self.max_tokens,
                    self.temperature,
                )
                self._runtimes[self._key] = runtime
            return runtime

    def close(self) -> None:
        """Destroy the shared handle (the next `stream` loads the model again)."""
        with self._loading:
            runtime = self._runtimes.pop(self._key, None)
        if runtime is not None:
            runtime.destroy()

    def stream(self, prompt: Prompt, usage: Usage | None = None) -> Iterator[str]:
        runtime = self._runtime()  # the first call loads the model: not part of the timeout
        deadline = time.monotonic() + self.timeout_s
        system, prefix, text, postfix = self.template.split(prompt.messages)
        if hasattr(runtime.lib, "rkllm_set_chat_template"):
            template = (system.encode(), prefix.encode(), postfix.encode())
        else:  # no template hook: the whole conversation is the input
            template, text = None, system + prefix + text + postfix

        if not runtime.lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            raise LLMError(
                f"the NPU stayed busy with another answer for {self.timeout_s:g}s "
                "(DONA_LLM_TIMEOUT_S); try again in a moment"
            )
        # From here the lock belongs to the run: the worker releases it when rkllm_run
        # returns, however this generator ends.
        try:
            if template is not None:
                runtime.set_template(*template)
            run_id, events = runtime.open_run()
        except BaseException:
            runtime.lock.release()
            raise
        worker = threading.Thread(
            target=self._run,
            args=(runtime, run_id, events, text.encode(), prompt),
            name="rkllm-run",
            daemon=True,
        )
        worker.start()

        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        stops = _StopFilter(prompt.stop)
        tokens = 0
        finished = False  # the run ended by itself: nothing to abort
        try:
            while True:
                try:
                    state, payload = events.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    runtime.abort(run_id)
                    finished = True
                    raise LLMError(
                        f"the RKLLM model did not finish within {self.timeout_s:g}s "
                        "(DONA_LLM_TIMEOUT_S); the run was aborted"
                    ) from None
                if state in (LLMCallState.NORMAL, LLMCallState.WAITING):
                    tokens += 1
                    if usage is not None:
                        usage.completion_tokens = tokens
                    # A multi-byte character may arrive split over two callbacks.
                    piece, stopped = stops.feed(decoder.decode(payload or b""))
                    if piece:
                        yield piece
                    if stopped:
                        return  # the finally aborts the rest
                    continue
                finished = True
                if state == LLMCallState.ERROR:
                    raise LLMError("the RKLLM runtime reported an error while generating")
                if state == _DONE and payload != 0:
                    raise LLMError(f"rkllm_run failed (status {payload})")
                # FINISH, or rkllm_run returned without one: the answer is complete.
                if state == LLMCallState.FINISH and usage is not None:
                    _fill_usage(usage, payload, tokens)
                piece, _ = stops.feed(decoder.decode(b"", final=True))
                piece += stops.flush()
                if piece:
                    yield piece
                return
        finally:
            if not finished:  # stop sequence, consumer stopped early, or an exception
                runtime.abort(run_id)

    @staticmethod
    def _run(
        runtime: _Runtime,
        run_id: int,
        events: queue.SimpleQueue[tuple[int, Any]],
        text: bytes,
        prompt: Prompt,
    ) -> None:
        status: Any = -1
        try:
            rk_input = RKLLMInput(
                role=b"user",
                enable_thinking=False,  # Qwen3: answer directly, DONA's answers are short
                input_type=RKLLMInputType.PROMPT,
            )
            rk_input.prompt_input = text
            sampling = runtime.sampling(prompt.temperature)
            infer = RKLLMInferParam(
                mode=RKLLMInferMode.GENERATE,
                sampling_params=ctypes.pointer(sampling),
                keep_history=0,  # each DONA turn carries its own history
                max_new_tokens=prompt.max_tokens,
            )
            # userdata names the run, so late callbacks of an abandoned run are dropped.
            status = runtime.lib.rkllm_run(
                runtime.handle, ctypes.byref(rk_input), ctypes.byref(infer), c_void_p(run_id)
            )
        except Exception as exc:  # reported to the consumer through the queue
            status = f"{type(exc).__name__}: {exc}"
        finally:
            events.put((_DONE, status))
            runtime.close_run(run_id)
            runtime.lock.release()


def _fill_usage(usage: Usage, perf: dict[str, float], counted: int) -> None:
    # The runtime's own counts when it gives them; prefill_tokens is what it evaluated
    # (less than the prompt when its prompt cache reused a prefix).
    if perf.get("prefill_tokens", 0) > 0:
        usage.prompt_tokens = int(perf["prefill_tokens"])
    usage.completion_tokens = int(perf.get("generate_tokens", 0)) or counted
    usage.extra.update({k: v for k, v in perf.items() if k.startswith("rkllm_")})


@atexit.register
def _destroy_all() -> None:
    # Free the NPU context on exit rather than leaving it to the kernel driver.
    for runtime in list(RKLLMBackend._runtimes.values()):
        with contextlib.suppress(Exception):  # best effort at exit
            runtime.destroy()
    RKLLMBackend._runtimes.clear()


@llm_backends.register("rkllm", "an .rkllm model on a Rockchip RK3588/RK3576 NPU (librkllmrt.so)")
def rkllm_backend(settings: Settings) -> RKLLMBackend:
    library = settings.rkllm_library
    _open_library(library)  # raises LLMError saying what is wrong with it
    model = Path(settings.llm_model).expanduser()
    if model.suffix.lower() != ".rkllm":
        raise LLMError(
            f"DONA_LLM_MODEL={settings.llm_model!r} is not an .rkllm file; the rkllm backend "
            "runs a model converted for the NPU with rkllm-toolkit (w8a8 or w4a16): set "
            "DONA_LLM_MODEL to its path"
        )
    if not model.is_file():
        raise LLMError(
            f"the RKLLM model file {model} does not exist; set DONA_LLM_MODEL to the path of "
            "the .rkllm file on this board"
        )
    return RKLLMBackend(
        model_path=str(model.resolve()),
        library=library,
        context_tokens=settings.llm_context_tokens,
        max_tokens=settings.llm_max_tokens,
        temperature=settings.llm_temperature,
        timeout_s=settings.llm_timeout_s,
    )
