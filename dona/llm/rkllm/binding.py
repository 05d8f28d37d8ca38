"""The `rkllm` LLM backend: Rockchip's RKLLM runtime (`librkllmrt.so`) through ctypes.

RKLLM runs `.rkllm` models (w8a8 / w4a16, converted with rkllm-toolkit) on the NPU of
RK3588 / RK3576 boards. The ctypes mirror below follows `rkllm.h` exactly as published in
airockchip/rknn-llm, rkllm-runtime/Linux/librkllm_api/include/rkllm.h at commit 878f936
(runtime v1.3.0, the newest version we could read). The ABI changed between releases:
v1.3.0 passes an `RKLLMCallback` struct to `rkllm_init` (earlier releases passed the
function itself), dropped `img_*` from `RKLLMParam` and added per-run sampling and
`max_new_tokens` to `RKLLMInferParam`. So install the v1.3.0 `librkllmrt.so`; with an
older one, use its OpenAI-compatible server and the `openai` backend instead.

How a call runs: one model handle per (library, model file, context size) in the process,
because the NPU holds one context. Runs are serialised by a lock. `rkllm_run` is
synchronous and calls our result callback on its own thread, so `stream()` starts it on a
worker thread and turns the callbacks into a generator through a queue. The worker owns
the lock until `rkllm_run` returns, so an aborted or abandoned run never overlaps the
next one. `rkllm_abort` ends a run on timeout, on a stop sequence, or when the consumer
stops iterating.

Chat template: the runtime wraps each input as `system_prompt + prefix + input + postfix`
(the model's built-in template, replaceable with `rkllm_set_chat_template`). The runtime
cannot render a whole conversation, so we render everything before the last message
with `ChatTemplate` (Qwen's ChatML by default: RKLLM boards mostly run Qwen conversions,
and DONA's bundled models are Qwen2.5) and hand it to `rkllm_set_chat_template` as the
system prompt; the last message is the input. `keep_history` stays 0: each DONA turn
already carries its history.
"""

from __future__ import annotations

import ctypes
import itertools
import queue
import threading
from collections.abc import Sequence
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    Union,
    c_bool,
    c_char_p,
    c_float,
    c_int,
    c_int8,
    c_int32,
    c_size_t,
    c_uint8,
    c_uint32,
    c_uint64,
    c_void_p,
)
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from dona.errors import LLMError

HEADER_VERSION = "rkllm.h v1.3.0 (airockchip/rknn-llm 878f9361fd3afa7e167b7079918918f78d2c1c2a)"

# --- rkllm.h, mirrored -------------------------------------------------------------------
# C enums are int-sized; they travel as c_int.

LLMHandle = c_void_p


class LLMCallState(IntEnum):
    NORMAL = 0  # RKLLM_RUN_NORMAL: a piece of text
    WAITING = 1  # RKLLM_RUN_WAITING: holding bytes until a UTF-8 character completes
    FINISH = 2  # RKLLM_RUN_FINISH
    ERROR = 3  # RKLLM_RUN_ERROR


class RKLLMInputType(IntEnum):
    PROMPT = 0
    TOKEN = 1
    EMBED = 2
    MULTIMODAL = 3


class RKLLMInferMode(IntEnum):
    GENERATE = 0
    GET_LAST_HIDDEN_LAYER = 1
    GET_LOGITS = 2


# int (*)(void* userdata, int32_t* tokens, uint64_t num_tokens, void* embed, uint64_t len)
LLMGetEmbedCallback = CFUNCTYPE(c_int, c_void_p, POINTER(c_int32), c_uint64, c_void_p, c_uint64)
# int (*)(void* userdata, const char* text, int32_t text_len, int32_t* tokens, int32_t max)
LLMTokenizerCallback = CFUNCTYPE(c_int, c_void_p, c_char_p, c_int32, POINTER(c_int32), c_int32)


class RKLLMExtendParam(Structure):
    _fields_ = [
        ("base_domain_id", c_int32),
        ("embed_flash", c_int8),
        ("enabled_cpus_num", c_int8),
        ("enabled_cpus_mask", c_uint32),
        ("n_batch", c_uint8),
        ("use_cross_attn", c_int8),
        ("reserved", c_uint8 * 104),
    ]


class RKLLMParam(Structure):
    _fields_ = [
        ("model_path", c_char_p),
        ("max_context_len", c_int32),
        ("max_new_tokens", c_int32),
        ("top_k", c_int32),
        ("n_keep", c_int32),
        ("top_p", c_float),
        ("temperature", c_float),
        ("repeat_penalty", c_float),
        ("frequency_penalty", c_float),
        ("presence_penalty", c_float),
        ("mirostat", c_int32),
        ("mirostat_tau", c_float),
        ("mirostat_eta", c_float),
        ("skip_special_token", c_bool),
        ("ignore_eos_token", c_bool),
        ("is_async", c_bool),
        ("extend_param", RKLLMExtendParam),
    ]


class RKLLMLoraAdapter(Structure):
    _fields_ = [
        ("lora_adapter_path", c_char_p),
        ("lora_adapter_name", c_char_p),
        ("scale", c_float),
    ]


class RKLLMEmbedInput(Structure):
    _fields_ = [("embed", POINTER(c_float)), ("n_tokens", c_size_t)]


class RKLLMTokenInput(Structure):
    _fields_ = [("input_ids", POINTER(c_int32)), ("n_tokens", c_size_t)]


class RKLLMImageInput(Structure):
    """The unnamed struct of `RKLLMMultiModalInput.image` (named here; ctypes needs one)."""

    _fields_ = [
        ("image_embed", POINTER(c_float)),
        ("n_image_tokens", c_size_t),
        ("n_image", c_size_t),
        ("image_start", c_char_p),
        ("image_end", c_char_p),
        ("image_content", c_char_p),
        ("image_width", c_size_t),
        ("image_height", c_size_t),
    ]


class RKLLMVideoInput(Structure):
    """The unnamed struct of `RKLLMMultiModalInput.video`."""

    _fields_ = [
        ("video_embed", POINTER(c_float)),
        ("n_frame_tokens", c_size_t),
        ("n_frame_per_video", c_size_t),
        ("n_video", c_size_t),
        ("video_start", c_char_p),
        ("video_end", c_char_p),
        ("video_content", c_char_p),
        ("frame_width", c_size_t),
        ("frame_height", c_size_t),
    ]


class RKLLMMultiModalInput(Structure):
    _fields_ = [
        ("prompt", c_char_p),
        ("image", RKLLMImageInput),
        ("video", RKLLMVideoInput),
    ]


class _RKLLMInputData(Union):
    _fields_ = [
        ("prompt_input", c_char_p),
        ("embed_input", RKLLMEmbedInput),
        ("token_input", RKLLMTokenInput),
        ("multimodal_input", RKLLMMultiModalInput),
    ]


class RKLLMInput(Structure):
    # The union is anonymous in C: `input.prompt_input` works here as it does there.
    _anonymous_ = ("_data",)
    _fields_ = [
        ("role", c_char_p),
        ("enable_thinking", c_bool),
        ("input_type", c_int),
        ("_data", _RKLLMInputData),
    ]


class RKLLMLoraParam(Structure):
    _fields_ = [("lora_adapter_name", c_char_p)]


class RKLLMPromptCacheParam(Structure):
    _fields_ = [("save_prompt_cache", c_int), ("prompt_cache_path", c_char_p)]


class RKLLMCrossAttnParam(Structure):
    _fields_ = [
        ("encoder_k_cache", POINTER(c_float)),
        ("encoder_v_cache", POINTER(c_float)),
        ("encoder_mask", POINTER(c_float)),
        ("encoder_pos", POINTER(c_int32)),
        ("num_tokens", c_int),
    ]


class RKLLMSamplingParam(Structure):
    _fields_ = [
        ("top_k", c_int32),
        ("top_p", c_float),
        ("temperature", c_float),
        ("repeat_penalty", c_float),
        ("frequency_penalty", c_float),
        ("presence_penalty", c_float),
        ("mirostat", c_int32),
        ("mirostat_tau", c_float),
        ("mirostat_eta", c_float),
    ]


class RKLLMInferParam(Structure):
    _fields_ = [
        ("mode", c_int),
        ("lora_params", POINTER(RKLLMLoraParam)),
        ("prompt_cache_params", POINTER(RKLLMPromptCacheParam)),
        ("sampling_params", POINTER(RKLLMSamplingParam)),  # NULL: the init values
        ("keep_history", c_int),
        ("max_new_tokens", c_int32),  # <= 0: the init value
    ]


class RKLLMResultLastHiddenLayer(Structure):
    _fields_ = [("hidden_states", POINTER(c_float)), ("embd_size", c_int), ("num_tokens", c_int)]


class RKLLMResultLogits(Structure):
    _fields_ = [("logits", POINTER(c_float)), ("vocab_size", c_int), ("num_tokens", c_int)]


class RKLLMPerfStat(Structure):
    _fields_ = [
        ("prefill_time_ms", c_float),
        ("prefill_tokens", c_int),
        ("generate_time_ms", c_float),
        ("generate_tokens", c_int),
        ("memory_usage_mb", c_float),
    ]


class RKLLMResult(Structure):
    _fields_ = [
        ("text", c_char_p),
        ("token_id", c_int32),
        ("last_hidden_layer", RKLLMResultLastHiddenLayer),
        ("logits", RKLLMResultLogits),
        ("perf", RKLLMPerfStat),
    ]


# int (*)(RKLLMResult*, void* userdata, LLMCallState): 0 continues, 1 pauses, 2 frees buffers.
LLMResultCallback = CFUNCTYPE(c_int, POINTER(RKLLMResult), c_void_p, c_int)


class RKLLMCallback(Structure):
    _fields_ = [
        ("result_callback", LLMResultCallback),
        ("result_userdata", c_void_p),
        ("tokenizer_callback", LLMTokenizerCallback),
        ("tokenizer_userdata", c_void_p),
        ("embed_callback", LLMGetEmbedCallback),
        ("embed_userdata", c_void_p),
    ]


# Every function of the header: (restype, argtypes). The first five are required.
_REQUIRED = ("rkllm_createDefaultParam", "rkllm_init", "rkllm_run", "rkllm_abort", "rkllm_destroy")
_PROTOTYPES: dict[str, tuple[Any, list[Any]]] = {
    "rkllm_createDefaultParam": (RKLLMParam, []),
    "rkllm_init": (c_int, [POINTER(LLMHandle), POINTER(RKLLMParam), POINTER(RKLLMCallback)]),
    "rkllm_run": (c_int, [LLMHandle, POINTER(RKLLMInput), POINTER(RKLLMInferParam), c_void_p]),
    "rkllm_abort": (c_int, [LLMHandle]),
    "rkllm_destroy": (c_int, [LLMHandle]),
    "rkllm_load_lora": (c_int, [LLMHandle, POINTER(RKLLMLoraAdapter)]),
    "rkllm_load_prompt_cache": (c_int, [LLMHandle, c_char_p]),
    "rkllm_release_prompt_cache": (c_int, [LLMHandle]),
    "rkllm_run_async": (
        c_int,
        [LLMHandle, POINTER(RKLLMInput), POINTER(RKLLMInferParam), c_void_p],
    ),
    "rkllm_is_running": (c_int, [LLMHandle]),  # v1.3.0: 1 while a task runs
    "rkllm_clear_kv_cache": (c_int, [LLMHandle, c_int, POINTER(c_int), POINTER(c_int)]),
    "rkllm_get_kv_cache_size": (c_int, [LLMHandle, POINTER(c_int)]),
    "rkllm_set_chat_template": (c_int, [LLMHandle, c_char_p, c_char_p, c_char_p]),
    "rkllm_set_function_tools": (c_int, [LLMHandle, c_char_p, c_char_p, c_char_p]),
    "rkllm_set_cross_attn_params": (c_int, [LLMHandle, POINTER(RKLLMCrossAttnParam)]),
}


def _open_library(path: str) -> ctypes.CDLL:
    """Load and type the runtime; `LLMError` (with the loader's reason) if it is not one."""
    try:
        lib = ctypes.CDLL(path)
    except OSError as exc:
        raise LLMError(_library_message(path, str(exc))) from exc
    missing = [name for name in _REQUIRED if not hasattr(lib, name)]
    if missing:
        raise LLMError(
            _library_message(path, f"it has no {', '.join(missing)}; it is not librkllmrt.so")
        )
    for name, (restype, argtypes) in _PROTOTYPES.items():
        if hasattr(lib, name):
            function = getattr(lib, name)
            function.restype = restype
            function.argtypes = argtypes
    return lib


def _library_message(path: str, reason: str) -> str:
    return (
        f"cannot load the RKLLM runtime {path!r} ({reason}). The rkllm backend needs a "
        "Rockchip NPU board (RK3588/RK3576) with librkllmrt.so v1.3.0 installed from "
        "airockchip/rknn-llm (rkllm-runtime/Linux/librkllm_api/aarch64/) on the library "
        "path, or DONA_RKLLM_LIBRARY set to its full path. Elsewhere, use "
        "DONA_LLM_BACKEND=llamacpp or openai."
    )


def rkllm_library_loads(path: str) -> bool:
    """True only where `path` really loads as a library that has `rkllm_init`."""
    try:
        lib = ctypes.CDLL(path)
    except OSError:
        return False
    return hasattr(lib, "rkllm_init")


# --- prompt rendering --------------------------------------------------------------------


@dataclass(frozen=True)
class ChatTemplate:
    """How a conversation is written out for the model. Default: Qwen's ChatML,
    `<|im_start|>{role}\\n{content}<|im_end|>\\n` per turn, then `<|im_start|>assistant\\n`."""

    turn_start: str = "<|im_start|>{role}\n"
    turn_end: str = "<|im_end|>\n"
    generation: str = "<|im_start|>assistant\n"

    def render(self, messages: Sequence[dict[str, str]]) -> str:
        return "".join(
            self.turn_start.format(role=m["role"]) + m["content"] + self.turn_end for m in messages
        )

    def split(self, messages: Sequence[dict[str, str]]) -> tuple[str, str, str, str]:
        """(system_prompt, prefix, input, postfix) for `rkllm_set_chat_template` + the run:
        every message but the last goes in the system prompt, the last one is the input."""
        if not messages:
            raise LLMError("the rkllm backend was given no messages")
        *history, last = messages
        return (
            self.render(history),
            self.turn_start.format(role=last["role"]),
            last["content"],
            self.turn_end + self.generation,
        )


QWEN_TEMPLATE = ChatTemplate()


class _StopFilter:
    """Cuts the stream at the first stop sequence. The runtime knows none, so the last
    `len(longest stop) - 1` characters are held back until the next piece shows whether
    a stop sequence starts there."""

    def __init__(self, stops: Sequence[str]):
        self.stops = [s for s in stops if s]
        self.hold = max((len(s) for s in self.stops), default=1) - 1
        self.buffer = ""

    def feed(self, text: str) -> tuple[str, bool]:
        if not self.stops:
            return text, False
        self.buffer += text
        hits = [i for i in (self.buffer.find(s) for s in self.stops) if i >= 0]
        if hits:
            out, self.buffer = self.buffer[: min(hits)], ""
            return out, True
        cut = max(0, len(self.buffer) - self.hold)
        out, self.buffer = self.buffer[:cut], self.buffer[cut:]
        return out, False

    def flush(self) -> str:
        out, self.buffer = self.buffer, ""
        return out


# --- the loaded model ------------------------------------------------------------------

_DONE = -1  # queue marker from the worker: rkllm_run returned (with its status code)


class _Runtime:
    """One `rkllm_init`ed handle and everything that must live as long as it does."""

    def __init__(
        self,
        library: str,
        model_path: str,
        context_tokens: int,
        max_tokens: int,
        temperature: float,
    ):
        self.library = library
        self.model_path = model_path
        self.lib = _open_library(library)
        self.lock = threading.Lock()  # one run at a time; released by the run's worker
        self._runs: dict[int, queue.SimpleQueue[tuple[int, Any]]] = {}
        self._run_ids = itertools.count(1)
        self._active: int | None = None  # the run rkllm_abort may stop
        self._state = threading.Lock()  # guards _runs and _active
        self._template: tuple[bytes, bytes, bytes] | None = None

        param = self.lib.rkllm_createDefaultParam()
        param.model_path = model_path.encode()
        param.max_context_len = context_tokens
        param.max_new_tokens = max_tokens
        param.temperature = temperature  # each run passes its own too (RKLLMSamplingParam)
        param.skip_special_token = True  # the shopper never sees <|im_end|> and the like
        param.is_async = False
        self.param = param
        # The runtime calls through these for the handle's whole life: keep them referenced.
        self._callback = LLMResultCallback(self._on_result)
        self._callbacks = RKLLMCallback(result_callback=self._callback)
        self.handle = LLMHandle()
        status = self.lib.rkllm_init(
            ctypes.byref(self.handle), ctypes.byref(param), ctypes.byref(self._callbacks)
        )
        if status != 0 or not self.handle:
            raise LLMError(
                f"the RKLLM runtime could not load {model_path} (rkllm_init returned {status}). "
                "Check that the model was converted for this board's NPU (rk3588 or rk3576) "
                "with the rkllm-toolkit version matching librkllmrt.so, and that it fits "
                "in memory with DONA_LLM_CONTEXT_TOKENS."
            )

    def sampling(self, temperature: float) -> RKLLMSamplingParam:
        """The init sampling values, with this run's temperature (0 means greedy)."""
        p = self.param
        greedy = temperature <= 0
        return RKLLMSamplingParam(
            top_k=1 if greedy else p.top_k,
            top_p=p.top_p,
            temperature=1.0 if greedy else temperature,
            repeat_penalty=p.repeat_penalty,
            frequency_penalty=p.frequency_penalty,
            presence_penalty=p.presence_penalty,
            mirostat=p.mirostat,
            mirostat_tau=p.mirostat_tau,
            mirostat_eta=p.mirostat_eta,
        )

    def set_template(self, system: bytes, prefix: bytes, postfix: bytes) -> None:
        # Only when it changed: the runtime may keep the system prompt's KV state.
        if self._template == (system, prefix, postfix):
            return
        status = self.lib.rkllm_set_chat_template(self.handle, system, prefix, postfix)
        if status != 0:
            raise LLMError(f"the RKLLM runtime refused the chat template (status {status})")
        self._template = (system, prefix, postfix)

    def open_run(self) -> tuple[int, queue.SimpleQueue[tuple[int, Any]]]:
        run_id = next(self._run_ids)
        events: queue.SimpleQueue[tuple[int, Any]] = queue.SimpleQueue()
        with self._state:
            self._runs[run_id] = events
            self._active = run_id
        return run_id, events

    def close_run(self, run_id: int) -> None:
        with self._state:
            self._runs.pop(run_id, None)
            if self._active == run_id:
                self._active = None

    def abort(self, run_id: int) -> None:
        """Abort `run_id` if it is still running, and never a later run."""
        with self._state:
            if self._active == run_id:
                self.lib.rkllm_abort(self.handle)

    def _on_result(self, result: Any, userdata: int | None, state: int) -> int:
        # Called by the runtime on the rkllm_run thread. It must not raise, and it must
        # copy what it needs now: the result's buffers are reused after it returns.
        try:
            events = self._runs.get(userdata or 0)
            if events is None:  # a run that was already given up on
                return 0
            if state == LLMCallState.NORMAL:
                text = result.contents.text if result else None
                events.put((state, text or b""))
            elif state == LLMCallState.FINISH:
                perf = result.contents.perf if result else None
                events.put((state, _perf_dict(perf) if perf is not None else {}))
            else:  # WAITING counts as a token; ERROR ends the run
                events.put((state, None))
        except BaseException:  # an exception cannot cross into C; the run's timeout still holds
            pass
        return 0

    def destroy(self) -> None:
        with self._state:
            if self._active is not None:
                self.lib.rkllm_abort(self.handle)
        # Wait for a running rkllm_run to return before freeing the handle under it.
        if self.lock.acquire(timeout=5):
            try:
                if self.handle:
                    self.lib.rkllm_destroy(self.handle)
                    self.handle = LLMHandle()
            finally:
                self.lock.release()


def _perf_dict(perf: RKLLMPerfStat) -> dict[str, float]:
    return {
        "prefill_tokens": perf.prefill_tokens,
        "generate_tokens": perf.generate_tokens,
        "rkllm_prefill_ms": round(perf.prefill_time_ms, 1),
        "rkllm_generate_ms": round(perf.generate_time_ms, 1),
        "rkllm_memory_mb": round(perf.memory_usage_mb, 1),
    }
