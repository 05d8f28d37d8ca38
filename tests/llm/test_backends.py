"""LLM backends for real: SmolLM2 in process (llama.cpp) and behind a real OpenAI-compatible
server (`python -m llama_cpp.server`), plus the failure paths the chat falls back on."""

from __future__ import annotations

import http.server
import json
import socket
import threading
import urllib.request

import pytest
from conftest import SHOP, serve_llama

from dona.chat import ChatEngine, Conversation
from dona.errors import LLMError
from dona.llm import Prompt, Usage, create_backend, llm_backends
from dona.llm.llamacpp import LlamaCppBackend
from dona.llm.openai_api import OpenAIBackend

pytestmark = pytest.mark.slow

QUESTION = [
    {"role": "system", "content": "You are a helpful shop assistant. Answer briefly."},
    {"role": "user", "content": "Name one colour."},
]


def prompt(max_tokens: int = 12) -> Prompt:
    return Prompt(messages=QUESTION, products=[], language="en", max_tokens=max_tokens)


@pytest.fixture
def shop(dona):
    dona.ingest_bytes("\n".join(json.dumps(p) for p in SHOP).encode(), filename="shop.jsonl")
    return dona


def test_registry_lists_the_built_ins():
    assert {"llamacpp", "openai", "rkllm", "extractive"} <= set(llm_backends.names())


def test_llamacpp_streams_and_counts(smollm2_path):
    backend = LlamaCppBackend(smollm2_path, "smollm2-135m", n_ctx=1024)
    usage = Usage()
    pieces = list(backend.stream(prompt(), usage))
    assert len(pieces) > 1 and "".join(pieces).strip()
    assert usage.completion_tokens == len(pieces) and usage.prompt_tokens > 10


def test_llamacpp_is_safe_under_concurrent_sessions(smollm2_path):
    backend = LlamaCppBackend(smollm2_path, "smollm2-135m", n_ctx=1024)
    results: list[str] = []
    errors: list[Exception] = []

    def ask():
        try:
            results.append("".join(backend.stream(prompt(8))))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=ask) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 3 and all(r.strip() for r in results)


def test_openai_backend_against_a_real_server(llama_server):
    backend = OpenAIBackend("smollm2", llama_server, None, timeout_s=60, retries=0)
    usage = Usage()
    pieces = list(backend.stream(prompt(), usage))
    assert len(pieces) > 1 and "".join(pieces).strip()
    assert usage.completion_tokens >= 1


def test_openai_backend_unreachable_is_a_plain_error():
    backend = OpenAIBackend("m", "http://127.0.0.1:9/v1", None, timeout_s=2, retries=0)
    with pytest.raises(LLMError, match="cannot be reached"):
        list(backend.stream(prompt()))


# ---- the errors a real server gives: a refused key, an unknown path, no answer in time -----

API_KEY = "sk-test-right-key-0123"
WRONG_KEY = "sk-test-wrong-key-9876"


@pytest.fixture(scope="module")
def keyed_server(smollm2_path):
    """The real llama.cpp server, started with an API key: every request must carry it."""
    with serve_llama(smollm2_path, "--api_key", API_KEY) as url:
        yield url


@pytest.fixture
def silent_server():
    """A server that accepts connections (the kernel's backlog does) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/v1"


def test_the_key_is_sent_and_a_refused_one_is_a_plain_error(keyed_server):
    right = OpenAIBackend("smollm2", keyed_server, API_KEY, timeout_s=60, retries=0)
    assert "".join(right.stream(prompt())).strip()
    wrong = OpenAIBackend("smollm2", keyed_server, WRONG_KEY, timeout_s=60, retries=3)
    with pytest.raises(LLMError) as refused:
        list(wrong.stream(prompt()))
    assert str(refused.value) == (
        "the language model server refused the API key (DONA_LLM_API_KEY)"
    )


def test_an_unknown_path_is_a_plain_error(llama_server):
    """404 from the real server: the base URL lacks its /v1."""
    backend = OpenAIBackend(
        "smollm2", llama_server.removesuffix("/v1"), None, timeout_s=60, retries=3
    )
    with pytest.raises(LLMError) as missing:
        list(backend.stream(prompt()))
    assert str(missing.value) == (
        "the language model server has no such model or path (HTTP 404): check "
        "DONA_LLM_MODEL and DONA_LLM_BASE_URL"
    )


def test_a_server_that_never_answers_times_out(silent_server):
    backend = OpenAIBackend("m", silent_server, None, timeout_s=1, retries=3)
    with pytest.raises(LLMError) as late:
        list(backend.stream(prompt()))
    assert str(late.value) == (
        "the language model server did not answer in time (DONA_LLM_TIMEOUT_S)"
    )


class BusyThenForward(http.server.BaseHTTPRequestHandler):
    """An RKLLM board's server in miniature: 503 while busy, then the real answer (relayed
    from the real llama.cpp server)."""

    busy_left = 0
    upstream = ""

    def do_POST(self):  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        cls = type(self)
        if cls.busy_left > 0:
            cls.busy_left -= 1
            self.send_response(503)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"error": {"message": "busy"}}')
            return
        request = urllib.request.Request(
            cls.upstream + self.path.removeprefix("/v1"),
            data=body,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as upstream:
            payload = upstream.read()
            self.send_response(upstream.status)
            self.send_header("Content-Type", upstream.headers["Content-Type"])
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def busy_server(llama_server):
    BusyThenForward.upstream = llama_server
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), BusyThenForward)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def test_busy_server_is_retried_with_a_bound(busy_server):
    BusyThenForward.busy_left = 2
    backend = OpenAIBackend("smollm2", busy_server, None, timeout_s=60, retries=3)
    assert "".join(backend.stream(prompt())).strip()
    assert BusyThenForward.busy_left == 0
    BusyThenForward.busy_left = 10
    backend = OpenAIBackend("smollm2", busy_server, None, timeout_s=60, retries=1)
    with pytest.raises(LLMError, match="stayed busy"):
        list(backend.stream(prompt()))


def test_settings_choose_the_backend(settings):
    with pytest.raises(LLMError, match="DONA_LLM_BASE_URL"):
        create_backend(settings.model_copy(update={"llm_backend": "openai"}))
    assert create_backend(settings, "extractive").name == "extractive"


# ---- whole chat turns with the real tiny model -------------------------------------------


def test_chat_with_a_real_local_model(shop, smollm2_path):
    shop.settings = shop.settings.model_copy(
        update={"llm_backend": "llamacpp", "llm_model": smollm2_path, "llm_max_tokens": 60}
    )
    engine = ChatEngine(shop)
    chat = Conversation()
    stream = engine.stream("wireless mouse", chat)
    pieces = list(stream)
    answer = stream.finish()
    assert answer.backend == "llamacpp" and len(pieces) >= 1
    assert answer.products and answer.products[0].id == "mo-1"  # cards come from the database
    assert "PWNED" not in answer.text  # the instruction hidden in the catalog is not obeyed
    assert answer.usage.prompt_tokens and answer.time_to_first_token_s is not None
    follow = engine.ask("is it quiet?", chat)
    assert [p.id for p in follow.products] == ["mo-1"]


def test_chat_through_the_server(shop, llama_server):
    shop.settings = shop.settings.model_copy(
        update={"llm_backend": "openai", "llm_base_url": llama_server, "llm_model": "smollm2",
                "llm_max_tokens": 40}
    )  # fmt: skip
    answer = ChatEngine(shop).ask("¿Tienes un altavoz bluetooth?")
    assert answer.backend == "openai" and answer.language == "es"
    assert answer.products[0].id.startswith("sp-")


@pytest.mark.parametrize(
    "server, update, reason",
    [
        ("keyed_server", {"llm_api_key": WRONG_KEY}, "refused the API key"),
        ("llama_server", {"llm_base_url": "root"}, "no such model or path (HTTP 404)"),
        ("silent_server", {"llm_timeout_s": 1}, "did not answer in time"),
    ],
)
def test_chat_falls_back_on_server_errors(request, shop, server, update, reason):
    """What the README promises: any backend failure gives the extractive answer and a
    one-line notice, never a traceback, and the notice never shows the key."""
    url = request.getfixturevalue(server)
    if update.get("llm_base_url") == "root":
        update = {"llm_base_url": url.removesuffix("/v1")}
    shop.settings = shop.settings.model_copy(
        update={"llm_backend": "openai", "llm_base_url": url, "llm_model": "smollm2",
                "llm_retries": 0, "llm_max_tokens": 20, **update}
    )  # fmt: skip
    answer = ChatEngine(shop).ask("usb cable")
    assert answer.fallback and reason in answer.notice
    assert "\n" not in answer.notice and WRONG_KEY not in answer.notice
    assert answer.products[0].id == "ca-1" and "[ca-1]" in answer.text


def test_chat_falls_back_when_the_server_is_down(shop):
    shop.settings = shop.settings.model_copy(
        update={"llm_backend": "openai", "llm_base_url": "http://127.0.0.1:9/v1",
                "llm_timeout_s": 2, "llm_retries": 0}
    )  # fmt: skip
    answer = ChatEngine(shop).ask("usb cable")
    assert answer.fallback and "cannot be reached" in answer.notice
    assert answer.products[0].id == "ca-1" and "[ca-1]" in answer.text
