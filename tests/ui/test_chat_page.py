"""The chat page with AppTest over the real stack: a real Dona, a real catalog, real search.
Most tests use the extractive backend (deterministic and fast); one runs the bundled
SmolLM2 through llama.cpp end to end."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from test_app import APP, NASTY_TITLE, SPEAKER, catalog_csv, use_data_dir

from dona.chat.engine import NOTICES
from dona.service import Dona

pytestmark = pytest.mark.slow
MODEL_UNAVAILABLE = NOTICES["en"]["fallback"].split("{reason}")[0]  # the notice's fixed start


@pytest.fixture(scope="module")
def chat_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dona-chat-ui")
    with pytest.MonkeyPatch.context() as mp:
        use_data_dir(mp, path)
        Dona().ingest_bytes(catalog_csv(), filename="c.csv")
    return path


@pytest.fixture
def chat(chat_dir: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    use_data_dir(monkeypatch, chat_dir)
    monkeypatch.setenv("DONA_LLM_BACKEND", "extractive")
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception and not at.error
    return at


def ask(at: AppTest, question: str) -> AppTest:
    at.chat_input(key="chat_input").set_value(question).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def messages(at: AppTest) -> list[tuple[str, list[str]]]:
    """(role, texts) per chat message, in order."""
    return [(m.name, [t.value for t in m.text]) for m in at.chat_message]


def test_examples_before_the_first_question(chat: AppTest):
    labels = [b.label for b in chat.button]
    assert any("bluetooth speaker" in label for label in labels)
    chat.button(key="example-0").click().run()
    assert not chat.exception
    roles = [role for role, _ in messages(chat)]
    assert roles == ["user", "assistant"]


def test_answer_with_product_cards_from_the_catalog(chat: AppTest):
    ask(chat, "bluetooth speaker")
    (user_role, user_texts), (role, texts) = messages(chat)
    assert user_role == "user" and user_texts == ["bluetooth speaker"]
    assert role == "assistant"
    answer = texts[0]
    assert answer.startswith("We have speakers with Bluetooth:") and "[1]" in answer
    assert SPEAKER in texts and "$49.99" in texts  # the card, rendered from the database
    notes = [t for t in texts if t.startswith("[1] · ")]
    # why each card is there: cited, and the request's words it contains (plain text)
    assert notes == ["[1] · cited in the answer · matches speaker, bluetooth"], texts
    assert chat.chat_input(key="chat_input").disabled is False  # back on after answering


def test_follow_up_and_new_conversation(chat: AppTest):
    ask(chat, "speaker")
    first_prices = [t for t in messages(chat)[1][1] if t.startswith("$")]
    assert "$49.99" in first_prices  # the cheapest speaker of this catalog
    ask(chat, "cheaper ones?")  # there is none: say so, offer the closest
    history = messages(chat)
    assert len(history) == 4
    assert history[3][1][0].startswith("I found no speakers under $49.98 in the catalog")
    chat.button(key="new_conversation").click().run()
    assert not messages(chat)


def test_sidebar_limits_hold(chat: AppTest):
    chat.number_input(key="chat_max_price").set_value(10.0).run()
    ask(chat, "cable")
    texts = messages(chat)[1][1]
    prices = [float(t[1:]) for t in texts if t.startswith("$")]
    assert prices and max(prices) <= 10.0


def test_nothing_fits_and_spanish(chat: AppTest):
    ask(chat, "altavoz bluetooth por menos de 2 dólares")
    answer = messages(chat)[1][1][0]
    assert answer.startswith("No encontré parlantes con bluetooth por menos de $2.00")


def test_catalog_and_model_text_stay_text(chat: AppTest):
    ask(chat, "script alert bold")
    texts = [t for _, ts in messages(chat) for t in ts]
    assert NASTY_TITLE in texts
    markup = [m.value for m in chat.markdown]
    assert not any("alert(" in m for m in markup)


def test_empty_question_is_ignored_politely(chat: AppTest):
    ask(chat, "   ")
    assert not chat.exception


def test_no_catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    use_data_dir(monkeypatch, tmp_path / "empty")
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception and "dona ingest FILE" in at.error[0].value


def test_real_local_model_end_to_end(chat_dir: Path, monkeypatch, smollm2_path):
    use_data_dir(monkeypatch, chat_dir)
    monkeypatch.setenv("DONA_LLM_BACKEND", "llamacpp")
    monkeypatch.setenv("DONA_LLM_MODEL", smollm2_path)
    monkeypatch.setenv("DONA_LLM_MAX_TOKENS", "48")
    at = AppTest.from_file(APP, default_timeout=180).run()
    ask(at, "a bluetooth speaker")
    history = messages(at)
    assert [r for r, _ in history] == ["user", "assistant"]
    texts = history[1][1]
    assert texts[0].strip() and SPEAKER in texts  # the model's words, the database's card
    # the extractive fallback also answers with cards: only its notice tells them apart
    assert not [t for t in texts if t.startswith(MODEL_UNAVAILABLE)], texts


def test_why_shown_and_notices_are_text_never_markdown():
    """A card's note carries catalog words (matched words, brand): a brand written as a
    Markdown link or image must show as those characters, not as a link or a remote
    image (issue 12 item 9)."""

    def page():
        from dona.catalog import Product
        from ui.shared import product_card

        brand = "[Acme](https://evil.example) ![x](https://evil.example/t.png)"
        product_card(Product(id="p1", title="Speaker", brand=brand), 0, note=f"brand {brand}")

    repo = str(Path(APP).resolve().parent.parent)
    if repo not in sys.path:
        sys.path.insert(0, repo)
    at = AppTest.from_function(page, default_timeout=30).run()
    assert not at.exception
    texts = [t.value for t in at.text]
    assert "brand [Acme](https://evil.example) ![x](https://evil.example/t.png)" in texts
    rendered = [m.value for m in at.markdown] + [c.value for c in at.caption]
    assert not any("evil.example" in r for r in rendered), rendered
