"""The `rkllm` backend (dona/rkllm.py) against a stand-in for Rockchip's runtime.

The real `librkllmrt.so` only runs on a Rockchip NPU board (RK3588/RK3576), so these tests
compile a small C library that implements the same `rkllm.h` API (v1.3.0) and link the
binding against it. This is the one place a fake is allowed here, because the real
runtime needs hardware. The stand-in is compiled from the same struct definitions as the
header, so it checks what a fake can check: the ctypes layout (it reports C's sizeof and
offsetof), the parameters the binding passes, and the streaming, UTF-8, error, timeout
and abort paths as the runtime's callbacks drive them. "Generation" echoes the input in
4-byte pieces, so a multi-byte character arrives split over two callbacks.
"""

from __future__ import annotations

import ctypes
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from dona.errors import LLMError
from dona.llm import Prompt, Usage, create_backend, llm_backends
from dona.llm.rkllm import QWEN_TEMPLATE, rkllm_library_loads
from dona.llm.rkllm import binding as rkllm
from dona.llm.rkllm.backend import RKLLMBackend, rkllm_backend

STUB_SOURCE = r"""
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* rkllm.h v1.3.0 types, written out as the header has them. */
typedef void* LLMHandle;
typedef enum { RKLLM_RUN_NORMAL = 0, RKLLM_RUN_WAITING = 1, RKLLM_RUN_FINISH = 2,
               RKLLM_RUN_ERROR = 3 } LLMCallState;
typedef enum { RKLLM_INPUT_PROMPT = 0, RKLLM_INPUT_TOKEN = 1, RKLLM_INPUT_EMBED = 2,
               RKLLM_INPUT_MULTIMODAL = 3 } RKLLMInputType;
typedef enum { RKLLM_INFER_GENERATE = 0, RKLLM_INFER_GET_LAST_HIDDEN_LAYER = 1,
               RKLLM_INFER_GET_LOGITS = 2 } RKLLMInferMode;
typedef int (*LLMGetEmbedCallback)(void*, int32_t*, uint64_t, void*, uint64_t);
typedef int (*LLMTokenizerCallback)(void*, const char*, int32_t, int32_t*, int32_t);
typedef struct {
    int32_t base_domain_id; int8_t embed_flash; int8_t enabled_cpus_num;
    uint32_t enabled_cpus_mask; uint8_t n_batch; int8_t use_cross_attn; uint8_t reserved[104];
} RKLLMExtendParam;
typedef struct {
    const char* model_path; int32_t max_context_len; int32_t max_new_tokens; int32_t top_k;
    int32_t n_keep; float top_p; float temperature; float repeat_penalty;
    float frequency_penalty; float presence_penalty; int32_t mirostat; float mirostat_tau;
    float mirostat_eta; bool skip_special_token; bool ignore_eos_token; bool is_async;
    RKLLMExtendParam extend_param;
} RKLLMParam;
typedef struct { const char* lora_adapter_path; const char* lora_adapter_name; float scale; }
    RKLLMLoraAdapter;
typedef struct { float* embed; size_t n_tokens; } RKLLMEmbedInput;
typedef struct { int32_t* input_ids; size_t n_tokens; } RKLLMTokenInput;
typedef struct {
    char* prompt;
    struct { float* image_embed; size_t n_image_tokens; size_t n_image;
             const char* image_start; const char* image_end; const char* image_content;
             size_t image_width; size_t image_height; } image;
    struct { float* video_embed; size_t n_frame_tokens; size_t n_frame_per_video;
             size_t n_video; const char* video_start; const char* video_end;
             const char* video_content; size_t frame_width; size_t frame_height; } video;
} RKLLMMultiModalInput;
typedef struct {
    const char* role; bool enable_thinking; RKLLMInputType input_type;
    union { const char* prompt_input; RKLLMEmbedInput embed_input;
            RKLLMTokenInput token_input; RKLLMMultiModalInput multimodal_input; };
} RKLLMInput;
typedef struct { const char* lora_adapter_name; } RKLLMLoraParam;
typedef struct { int save_prompt_cache; const char* prompt_cache_path; } RKLLMPromptCacheParam;
typedef struct { float* encoder_k_cache; float* encoder_v_cache; float* encoder_mask;
                 int32_t* encoder_pos; int num_tokens; } RKLLMCrossAttnParam;
typedef struct { int32_t top_k; float top_p; float temperature; float repeat_penalty;
                 float frequency_penalty; float presence_penalty; int32_t mirostat;
                 float mirostat_tau; float mirostat_eta; } RKLLMSamplingParam;
typedef struct {
    RKLLMInferMode mode; RKLLMLoraParam* lora_params;
    RKLLMPromptCacheParam* prompt_cache_params; RKLLMSamplingParam* sampling_params;
    int keep_history; int32_t max_new_tokens;
} RKLLMInferParam;
typedef struct { const float* hidden_states; int embd_size; int num_tokens; }
    RKLLMResultLastHiddenLayer;
typedef struct { const float* logits; int vocab_size; int num_tokens; } RKLLMResultLogits;
typedef struct { float prefill_time_ms; int prefill_tokens; float generate_time_ms;
                 int generate_tokens; float memory_usage_mb; } RKLLMPerfStat;
typedef struct {
    const char* text; int32_t token_id; RKLLMResultLastHiddenLayer last_hidden_layer;
    RKLLMResultLogits logits; RKLLMPerfStat perf;
} RKLLMResult;
typedef int (*LLMResultCallback)(RKLLMResult*, void*, LLMCallState);
typedef struct {
    LLMResultCallback result_callback; void* result_userdata;
    LLMTokenizerCallback tokenizer_callback; void* tokenizer_userdata;
    LLMGetEmbedCallback embed_callback; void* embed_userdata;
} RKLLMCallback;

/* What C sees, for the layout test: "sizeof T" and "T.field" (offsetof). */
#define S(T) {"sizeof " #T, sizeof(T)}
#define O(T, f) {#T "." #f, offsetof(T, f)}
static const struct { const char* name; size_t value; } layout[] = {
    S(RKLLMExtendParam), S(RKLLMParam), S(RKLLMLoraAdapter), S(RKLLMEmbedInput),
    S(RKLLMTokenInput), S(RKLLMMultiModalInput), S(RKLLMInput), S(RKLLMLoraParam),
    S(RKLLMPromptCacheParam), S(RKLLMCrossAttnParam), S(RKLLMSamplingParam),
    S(RKLLMInferParam), S(RKLLMResultLastHiddenLayer), S(RKLLMResultLogits),
    S(RKLLMPerfStat), S(RKLLMResult), S(RKLLMCallback),
    O(RKLLMExtendParam, enabled_cpus_mask), O(RKLLMExtendParam, n_batch),
    O(RKLLMExtendParam, use_cross_attn), O(RKLLMExtendParam, reserved),
    O(RKLLMParam, max_context_len), O(RKLLMParam, n_keep), O(RKLLMParam, top_p),
    O(RKLLMParam, mirostat_eta), O(RKLLMParam, skip_special_token),
    O(RKLLMParam, ignore_eos_token), O(RKLLMParam, is_async), O(RKLLMParam, extend_param),
    O(RKLLMLoraAdapter, scale), O(RKLLMMultiModalInput, image),
    O(RKLLMMultiModalInput, video), O(RKLLMInput, enable_thinking),
    O(RKLLMInput, input_type), O(RKLLMInput, prompt_input), O(RKLLMInput, multimodal_input),
    O(RKLLMPromptCacheParam, prompt_cache_path), O(RKLLMCrossAttnParam, num_tokens),
    O(RKLLMSamplingParam, mirostat_eta), O(RKLLMInferParam, lora_params),
    O(RKLLMInferParam, sampling_params), O(RKLLMInferParam, keep_history),
    O(RKLLMInferParam, max_new_tokens), O(RKLLMResult, token_id),
    O(RKLLMResult, last_hidden_layer), O(RKLLMResult, logits), O(RKLLMResult, perf),
    O(RKLLMPerfStat, memory_usage_mb), O(RKLLMCallback, result_userdata),
    O(RKLLMCallback, tokenizer_callback), O(RKLLMCallback, embed_userdata),
};
int stub_layout_count(void) { return sizeof layout / sizeof layout[0]; }
const char* stub_layout_name(int i) { return layout[i].name; }
size_t stub_layout_value(int i) { return layout[i].value; }

/* What the binding passed, for the tests to read back. */
static char s_model_path[1024], s_role[64], s_prompt[8192];
static char s_system[8192], s_prefix[256], s_postfix[256];
static int i_max_context_len, i_max_new_tokens, i_top_k, i_n_batch, i_skip_special_token,
           i_is_async, i_run_input_type, i_run_enable_thinking, i_run_mode,
           i_run_keep_history, i_run_max_new_tokens, i_run_has_sampling, i_run_top_k,
           i_init, i_run, i_abort, i_destroy, i_template, i_running, i_max_running, i_tokens;
static float f_temperature, f_run_temperature;
static volatile int abort_flag;

static void keep(char* dst, size_t n, const char* src) {
    strncpy(dst, src ? src : "(null)", n - 1);
    dst[n - 1] = 0;
}

long stub_int(const char* key) {
    static const struct { const char* key; int* value; } ints[] = {
        {"max_context_len", &i_max_context_len}, {"max_new_tokens", &i_max_new_tokens},
        {"top_k", &i_top_k}, {"n_batch", &i_n_batch},
        {"skip_special_token", &i_skip_special_token}, {"is_async", &i_is_async},
        {"run_input_type", &i_run_input_type}, {"run_enable_thinking", &i_run_enable_thinking},
        {"run_mode", &i_run_mode}, {"run_keep_history", &i_run_keep_history},
        {"run_max_new_tokens", &i_run_max_new_tokens}, {"run_has_sampling", &i_run_has_sampling},
        {"run_top_k", &i_run_top_k}, {"init", &i_init}, {"run", &i_run}, {"abort", &i_abort},
        {"destroy", &i_destroy}, {"template", &i_template}, {"running", &i_running},
        {"max_running", &i_max_running}, {"tokens", &i_tokens},
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        if (!strcmp(key, ints[i].key)) return __atomic_load_n(ints[i].value, __ATOMIC_SEQ_CST);
    return -999;
}
double stub_float(const char* key) {
    if (!strcmp(key, "temperature")) return f_temperature;
    if (!strcmp(key, "run_temperature")) return f_run_temperature;
    return -999;
}
const char* stub_str(const char* key) {
    if (!strcmp(key, "model_path")) return s_model_path;
    if (!strcmp(key, "role")) return s_role;
    if (!strcmp(key, "prompt")) return s_prompt;
    if (!strcmp(key, "system")) return s_system;
    if (!strcmp(key, "prefix")) return s_prefix;
    if (!strcmp(key, "postfix")) return s_postfix;
    return "?";
}

typedef struct { LLMResultCallback callback; void* userdata; } Handle;

RKLLMParam rkllm_createDefaultParam(void) {
    RKLLMParam p;
    memset(&p, 0, sizeof p);
    p.max_context_len = 512; p.max_new_tokens = -1; p.top_k = 40; p.n_keep = -1;
    p.top_p = 0.9f; p.temperature = 0.8f; p.repeat_penalty = 1.1f;
    p.mirostat_tau = 5.0f; p.mirostat_eta = 0.1f; p.skip_special_token = false;
    p.extend_param.n_batch = 1; p.extend_param.enabled_cpus_num = 4;
    p.extend_param.enabled_cpus_mask = 0xF0;
    return p;
}

int rkllm_init(LLMHandle* handle, RKLLMParam* param, RKLLMCallback* callback) {
    i_init++;
    keep(s_model_path, sizeof s_model_path, param->model_path);
    i_max_context_len = param->max_context_len; i_max_new_tokens = param->max_new_tokens;
    i_top_k = param->top_k; i_n_batch = param->extend_param.n_batch;
    i_skip_special_token = param->skip_special_token; i_is_async = param->is_async;
    f_temperature = param->temperature;
    if (strstr(s_model_path, "fail-init") || !callback || !callback->result_callback) {
        *handle = NULL;
        return -1;
    }
    Handle* h = calloc(1, sizeof *h);
    h->callback = callback->result_callback;
    h->userdata = callback->result_userdata;
    *handle = h;
    return 0;
}

int rkllm_set_chat_template(LLMHandle handle, const char* system, const char* prefix,
                            const char* postfix) {
    i_template++;
    keep(s_system, sizeof s_system, system);
    keep(s_prefix, sizeof s_prefix, prefix);
    keep(s_postfix, sizeof s_postfix, postfix);
    return 0;
}

static int emit(Handle* h, void* userdata, const char* text, LLMCallState state) {
    RKLLMResult result;
    memset(&result, 0, sizeof result);
    result.text = text;
    return h->callback(&result, userdata, state);
}

int rkllm_run(LLMHandle handle, RKLLMInput* input, RKLLMInferParam* infer, void* userdata) {
    Handle* h = handle;
    if (!h) return -1;
    void* ud = userdata ? userdata : h->userdata;  /* v1.3.0: run userdata wins */
    int now = __atomic_add_fetch(&i_running, 1, __ATOMIC_SEQ_CST);
    if (now > i_max_running) i_max_running = now;
    i_run++;
    abort_flag = 0;
    keep(s_role, sizeof s_role, input->role);
    i_run_enable_thinking = input->enable_thinking;
    i_run_input_type = input->input_type;
    keep(s_prompt, sizeof s_prompt, input->prompt_input);
    i_run_mode = infer->mode; i_run_keep_history = infer->keep_history;
    i_run_max_new_tokens = infer->max_new_tokens;
    i_run_has_sampling = infer->sampling_params != NULL;
    if (infer->sampling_params) {
        i_run_top_k = infer->sampling_params->top_k;
        f_run_temperature = infer->sampling_params->temperature;
    }
    usleep(20000);  /* long enough for overlapping runs to show */
    const char* prompt = input->prompt_input ? input->prompt_input : "";
    int status = 0, tokens = 0;
    if (strstr(prompt, "[fail-run]")) {
        status = -1;
    } else if (strstr(prompt, "[error]")) {
        emit(h, ud, NULL, RKLLM_RUN_ERROR);
    } else if (strstr(prompt, "[slow]")) {
        for (int i = 0; i < 500 && !abort_flag; i++, tokens++) {
            emit(h, ud, "tick ", RKLLM_RUN_NORMAL);
            usleep(10000);
        }
        if (!abort_flag) emit(h, ud, NULL, RKLLM_RUN_FINISH);
    } else {
        emit(h, ud, "echo: ", RKLLM_RUN_NORMAL);
        emit(h, ud, NULL, RKLLM_RUN_WAITING);
        tokens += 2;
        size_t n = strlen(prompt);
        for (size_t at = 0; at < n && !abort_flag; at += 4, tokens++) {
            char piece[5] = {0};
            strncpy(piece, prompt + at, 4);
            emit(h, ud, piece, RKLLM_RUN_NORMAL);
        }
        RKLLMResult result;
        memset(&result, 0, sizeof result);
        result.perf.prefill_tokens = (int)n;
        result.perf.generate_tokens = tokens;
        result.perf.prefill_time_ms = 12.5f;
        result.perf.generate_time_ms = 40.0f;
        result.perf.memory_usage_mb = 321.0f;
        if (!abort_flag) h->callback(&result, ud, RKLLM_RUN_FINISH);
    }
    i_tokens = tokens;
    __atomic_sub_fetch(&i_running, 1, __ATOMIC_SEQ_CST);
    return status;
}

int rkllm_abort(LLMHandle handle) { i_abort++; abort_flag = 1; return 0; }
int rkllm_is_running(LLMHandle handle) { return i_running > 0; }
int rkllm_destroy(LLMHandle handle) { i_destroy++; free(handle); return 0; }
"""

NOT_RKLLM_SOURCE = "int answer(void) { return 42; }\n"

needs_gcc = pytest.mark.skipif(
    shutil.which("gcc") is None, reason="gcc is needed to build the stand-in RKLLM runtime"
)


def _compile(source: str, directory: Path, name: str) -> Path:
    c_file = directory / f"{name}.c"
    c_file.write_text(source)
    library = directory / f"lib{name}.so"
    subprocess.run(
        ["gcc", "-shared", "-fPIC", "-O1", "-Wall", "-o", str(library), str(c_file)],
        check=True,
        capture_output=True,
        text=True,
    )
    return library


@pytest.fixture(scope="module")
def stub_dir(tmp_path_factory) -> Path:
    if shutil.which("gcc") is None:
        pytest.skip("gcc is needed to build the stand-in RKLLM runtime")
    return tmp_path_factory.mktemp("rkllm-stub")


@pytest.fixture(scope="module")
def stub_library(stub_dir) -> Path:
    return _compile(STUB_SOURCE, stub_dir, "rkllmstub")


@pytest.fixture
def stub(stub_library):
    """The stand-in's record of what it was given (its state persists across tests, so
    tests read counters as differences)."""
    lib = ctypes.CDLL(str(stub_library))
    lib.stub_int.restype = ctypes.c_long
    lib.stub_int.argtypes = [ctypes.c_char_p]
    lib.stub_float.restype = ctypes.c_double
    lib.stub_float.argtypes = [ctypes.c_char_p]
    lib.stub_str.restype = ctypes.c_char_p
    lib.stub_str.argtypes = [ctypes.c_char_p]
    lib.stub_layout_name.restype = ctypes.c_char_p
    lib.stub_layout_value.restype = ctypes.c_size_t

    class Stub:
        path = stub_library

        def int(self, key: str) -> int:
            return lib.stub_int(key.encode())

        def float(self, key: str) -> float:
            return lib.stub_float(key.encode())

        def str(self, key: str) -> str:
            return lib.stub_str(key.encode()).decode()

        def layout(self) -> dict[str, int]:
            count = lib.stub_layout_count()
            return {
                lib.stub_layout_name(i).decode(): lib.stub_layout_value(i) for i in range(count)
            }

        def wait_idle(self, timeout: float = 5.0) -> None:
            deadline = time.monotonic() + timeout
            while self.int("running") and time.monotonic() < deadline:
                time.sleep(0.01)
            assert self.int("running") == 0

    return Stub()


@pytest.fixture
def model_file(tmp_path) -> Path:
    path = tmp_path / "qwen2.5-0.5b-instruct-w8a8.rkllm"
    path.write_bytes(b"not a real model: the stand-in runtime never reads it")
    return path


@pytest.fixture
def rk_settings(settings, stub_library, model_file):
    return settings.model_copy(
        update={
            "llm_backend": "rkllm",
            "rkllm_library": str(stub_library),
            "llm_model": str(model_file),
            "llm_max_tokens": 200,
            "llm_context_tokens": 2048,
            "llm_temperature": 0.3,
            "llm_timeout_s": 5.0,
        }
    )


@pytest.fixture
def backend(rk_settings):
    made = rkllm_backend(rk_settings)
    yield made
    made.close()


def _prompt(text: str, **kwargs) -> Prompt:
    messages = [
        {"role": "system", "content": "You are DONA, a shop assistant."},
        {"role": "user", "content": text},
    ]
    return Prompt(messages=messages, products=[], language="en", **kwargs)


# --- no compiler needed --------------------------------------------------------------------


def test_library_loads_is_false_for_a_missing_file(tmp_path):
    assert rkllm_library_loads(str(tmp_path / "librkllmrt.so")) is False
    assert rkllm_library_loads("librkllmrt-does-not-exist.so") is False


def test_library_loads_is_false_for_a_file_that_is_no_library(tmp_path):
    fake = tmp_path / "librkllmrt.so"
    fake.write_text("just text")
    assert rkllm_library_loads(str(fake)) is False


def test_the_factory_says_what_to_install_when_the_runtime_is_missing(settings, tmp_path):
    missing = str(tmp_path / "librkllmrt.so")
    with pytest.raises(LLMError) as caught:
        rkllm_backend(settings.model_copy(update={"rkllm_library": missing}))
    message = str(caught.value)
    assert missing in message
    assert "Rockchip NPU board" in message and "librkllmrt.so" in message
    assert "DONA_RKLLM_LIBRARY" in message


def test_rkllm_is_a_registered_backend():
    assert llm_backends.get("rkllm") is rkllm_backend


def test_chatml_template_puts_history_in_the_system_prompt():
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Tents?"},
        {"role": "assistant", "content": "Two tents."},
        {"role": "user", "content": "The cheaper one?"},
    ]
    system, prefix, text, postfix = QWEN_TEMPLATE.split(messages)
    assert system == (
        "<|im_start|>system\nBe brief.<|im_end|>\n"
        "<|im_start|>user\nTents?<|im_end|>\n"
        "<|im_start|>assistant\nTwo tents.<|im_end|>\n"
    )
    assert (prefix, text, postfix) == (
        "<|im_start|>user\n",
        "The cheaper one?",
        "<|im_end|>\n<|im_start|>assistant\n",
    )
    # Together they are exactly the whole conversation in ChatML, ready for the answer.
    assert system + prefix + text + postfix == (
        QWEN_TEMPLATE.render(messages) + "<|im_start|>assistant\n"
    )


def test_stop_filter_cuts_a_stop_sequence_split_across_pieces():
    stops = rkllm._StopFilter(["</answer>"])
    out = []
    for piece in ["Two tents</an", "swer> and more"]:
        text, hit = stops.feed(piece)
        out.append(text)
        if hit:
            break
    assert "".join(out) == "Two tents"


# --- against the stand-in runtime ----------------------------------------------------------


@needs_gcc
def test_struct_layout_matches_what_c_compiles(stub):
    layout = stub.layout()
    assert len(layout) > 40
    for name, c_value in layout.items():
        if name.startswith("sizeof "):
            ours = ctypes.sizeof(getattr(rkllm, name.removeprefix("sizeof ")))
        else:
            struct, field = name.split(".")
            ours = getattr(getattr(rkllm, struct), field).offset
        assert ours == c_value, f"{name}: ctypes {ours}, C {c_value}"


@needs_gcc
def test_library_loads_only_with_the_rkllm_symbols(stub, stub_dir):
    assert rkllm_library_loads(str(stub.path)) is True
    other = _compile(NOT_RKLLM_SOURCE, stub_dir, "notrkllm")
    assert rkllm_library_loads(str(other)) is False


@needs_gcc
def test_the_factory_rejects_a_library_without_the_api(settings, stub_dir, model_file):
    other = _compile(NOT_RKLLM_SOURCE, stub_dir, "notrkllm2")
    changed = {"rkllm_library": str(other), "llm_model": str(model_file)}
    with pytest.raises(LLMError, match="not librkllmrt.so"):
        rkllm_backend(settings.model_copy(update=changed))


@needs_gcc
def test_the_factory_wants_an_existing_rkllm_file(rk_settings, tmp_path):
    with pytest.raises(LLMError, match=r"not an \.rkllm file.*rkllm-toolkit"):
        rkllm_backend(rk_settings.model_copy(update={"llm_model": "qwen2.5-1.5b"}))
    missing = tmp_path / "gone.rkllm"
    with pytest.raises(LLMError, match="does not exist") as caught:
        rkllm_backend(rk_settings.model_copy(update={"llm_model": str(missing)}))
    assert str(missing) in str(caught.value)


@needs_gcc
@needs_gcc
def test_auto_picks_rkllm_only_where_the_runtime_loads(rk_settings, settings, model_file):
    from dona.llm import resolve_backend_name

    auto = rk_settings.model_copy(update={"llm_backend": "auto"})
    assert resolve_backend_name(auto) == "rkllm"
    assert isinstance(create_backend(auto), RKLLMBackend)
    missing = auto.model_copy(update={"rkllm_library": "/nonexistent/librkllmrt.so"})
    assert resolve_backend_name(missing) == "llamacpp"
    gguf = auto.model_copy(update={"llm_model": "qwen2.5-1.5b"})
    assert resolve_backend_name(gguf) == "llamacpp"
    assert resolve_backend_name(settings.model_copy(update={"llm_backend": "auto"})) == "llamacpp"


def test_create_backend_builds_it_from_settings(rk_settings, model_file):
    made = create_backend(rk_settings)
    assert isinstance(made, RKLLMBackend)
    assert made.name == "rkllm"
    assert made.model == "qwen2.5-0.5b-instruct-w8a8"
    assert made.model_path == str(model_file.resolve())


@needs_gcc
def test_init_and_run_receive_the_settings_through_the_structs(backend, stub, model_file):
    inits = stub.int("init")
    answer = "".join(backend.stream(_prompt("hello", max_tokens=77, temperature=0.25)))
    assert answer == "echo: hello"
    assert stub.int("init") == inits + 1  # loaded lazily, on the first answer
    # rkllm_init: our values, and createDefaultParam's defaults kept where we set none.
    assert stub.str("model_path") == str(model_file.resolve())
    assert stub.int("max_new_tokens") == 200
    assert stub.int("max_context_len") == 2048
    assert stub.float("temperature") == pytest.approx(0.3)
    assert stub.int("skip_special_token") == 1
    assert stub.int("is_async") == 0
    assert stub.int("top_k") == 40
    assert stub.int("n_batch") == 1
    # rkllm_run: a user prompt with this run's length and temperature, no kept history.
    assert stub.str("role") == "user"
    assert stub.int("run_input_type") == 0
    assert stub.int("run_enable_thinking") == 0
    assert stub.int("run_mode") == 0
    assert stub.int("run_keep_history") == 0
    assert stub.int("run_max_new_tokens") == 77
    assert stub.int("run_has_sampling") == 1
    assert stub.int("run_top_k") == 40
    assert stub.float("run_temperature") == pytest.approx(0.25)
    # The chat template carries the system message; the input is the last user message.
    assert stub.str("system") == "<|im_start|>system\nYou are DONA, a shop assistant.<|im_end|>\n"
    assert stub.str("prefix") == "<|im_start|>user\n"
    assert stub.str("postfix") == "<|im_end|>\n<|im_start|>assistant\n"
    assert stub.str("prompt") == "hello"
    # Same system prompt next turn: the template is not set again.
    templates = stub.int("template")
    "".join(backend.stream(_prompt("again")))
    assert stub.int("template") == templates
    assert stub.int("init") == inits + 1  # one handle, shared


@needs_gcc
def test_pieces_stream_in_order_and_utf8_split_across_callbacks_is_joined(backend, stub):
    text = "café ☕ 10€"
    raw = ("echo: " + text).encode()
    chunks = [b"echo: "] + [text.encode()[i : i + 4] for i in range(0, len(text.encode()), 4)]
    assert b"".join(chunks) == raw
    # The stand-in really splits characters: some 4-byte chunk is not valid UTF-8 alone.
    undecodable = 0
    for chunk in chunks:
        try:
            chunk.decode()
        except UnicodeDecodeError:
            undecodable += 1
    assert undecodable >= 2

    usage = Usage()
    pieces = list(backend.stream(_prompt(text), usage))
    assert "".join(pieces) == "echo: " + text
    assert "\ufffd" not in "".join(pieces)
    assert len(pieces) > 3  # streamed, not collected into one piece
    assert pieces[0] == "echo: "
    # The runtime's own counts: input bytes prefilled, token callbacks generated.
    assert usage.prompt_tokens == len(text.encode())
    stub.wait_idle()  # the stand-in records its count after the FINISH callback returns
    assert usage.completion_tokens == stub.int("tokens")
    assert usage.extra["rkllm_memory_mb"] == pytest.approx(321.0)


@needs_gcc
def test_an_error_callback_raises_llm_error(backend, stub):
    with pytest.raises(LLMError, match="reported an error"):
        list(backend.stream(_prompt("[error] please")))
    stub.wait_idle()
    assert "".join(backend.stream(_prompt("fine"))) == "echo: fine"


@needs_gcc
def test_a_failed_rkllm_run_raises_llm_error(backend):
    with pytest.raises(LLMError, match=r"rkllm_run failed \(status -1\)"):
        list(backend.stream(_prompt("[fail-run]")))


@needs_gcc
def test_rkllm_init_failure_is_an_llm_error(rk_settings, tmp_path):
    model = tmp_path / "fail-init.rkllm"
    model.write_bytes(b"x")
    made = rkllm_backend(rk_settings.model_copy(update={"llm_model": str(model)}))
    with pytest.raises(LLMError, match="rkllm_init returned -1"):
        list(made.stream(_prompt("hello")))


@needs_gcc
def test_timeout_aborts_the_run_and_raises(rk_settings, stub):
    made = rkllm_backend(rk_settings.model_copy(update={"llm_timeout_s": 0.3}))
    try:
        aborts = stub.int("abort")
        started = time.monotonic()
        pieces = []
        with pytest.raises(LLMError, match="did not finish within 0.3s"):
            for piece in made.stream(_prompt("[slow]")):
                pieces.append(piece)
        assert time.monotonic() - started < 3
        assert pieces and set("".join(pieces).split()) == {"tick"}
        assert stub.int("abort") == aborts + 1
        stub.wait_idle()
        # The aborted run gave the NPU back: the next answer runs.
        assert "".join(made.stream(_prompt("next"))) == "echo: next"
    finally:
        made.close()


@needs_gcc
def test_stopping_early_aborts_the_run(backend, stub):
    aborts = stub.int("abort")
    stream = backend.stream(_prompt("[slow]"))
    assert next(stream) == "tick "
    stream.close()
    assert stub.int("abort") == aborts + 1
    stub.wait_idle()
    assert "".join(backend.stream(_prompt("after"))) == "echo: after"
    assert stub.int("abort") == aborts + 1  # a finished run is not aborted


@needs_gcc
def test_a_stop_sequence_ends_the_answer(backend, stub):
    answer = "".join(backend.stream(_prompt("one two STOP three", stop=("STOP",))))
    assert answer == "echo: one two "


@needs_gcc
def test_runs_are_serialised(backend, stub):
    results: dict[int, str] = {}

    def ask(i: int) -> None:
        results[i] = "".join(backend.stream(_prompt(f"question {i}")))

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert results == {i: f"echo: question {i}" for i in range(3)}
    assert stub.int("max_running") == 1


@needs_gcc
def test_close_destroys_the_handle(rk_settings, stub):
    made = rkllm_backend(rk_settings)
    "".join(made.stream(_prompt("hello")))
    destroyed = stub.int("destroy")
    made.close()
    assert stub.int("destroy") == destroyed + 1
