"""The shopper chat: ask in your own words, get a short answer and real product cards.

The conversation lives in the session (kept across reruns); the cards come from the
database and are drawn as soon as the search is done, before the model's first word; a
"thinking" spinner shows until that first word, then the answer streams into a text
element (model output is data, never Markdown). While an answer streams the input is
disabled (the question is stored, the page reruns with the input off, answers, then
reruns again with the input back) and a Stop button ends it: the model's stream is closed
at once and what was written so far stays, marked as stopped. The model is loaded and
its fixed prompt read in the background when the engine is first built.
"""

from __future__ import annotations

import threading

import streamlit as st
from shared import (
    current_dona,
    language,
    live_catalogs,
    pick_catalog,
    product_grid,
    run_guarded,
    tr,
)

from dona.chat import ChatEngine, Conversation, why_shown
from dona.config import get_settings
from dona.errors import DonaError
from dona.formatting import cite_as_numbers
from dona.i18n import localized
from dona.search import Filters

EXAMPLES = ["chat.example_1", "chat.example_2", "chat.example_3"]  # in the page's language


@st.cache_resource(show_spinner=False)
def load_engine(data_dir: str, database_url: str, backend: str, model: str) -> ChatEngine:
    """One engine (and one loaded model) per configuration, shared by every session. The
    model loads and reads its fixed prompt in the background: the page does not wait, and
    a first question waits only for what is left of it."""
    engine = ChatEngine(current_dona())
    threading.Thread(target=engine.warm, name="dona-chat-warm", daemon=True).start()
    return engine


def new_conversation(catalog: str) -> None:
    st.session_state.chat = {
        "catalog": catalog,
        "conversation": Conversation(catalog=catalog),
        "messages": [],
        "pending": None,
    }


def sidebar(catalog_names: list[str]) -> tuple[str, Filters]:
    dona = current_dona()
    with st.sidebar:
        catalog = pick_catalog(dona, catalog_names)
        st.header(tr("chat.limits"))
        st.caption(tr("chat.limits_help"))
        min_price = st.number_input(
            tr("filter.min_price"), min_value=0.0, value=None, step=10.0,
            placeholder=tr("filter.any"), key="chat_min_price",
        )  # fmt: skip
        max_price = st.number_input(
            tr("filter.max_price"), min_value=0.0, value=None, step=10.0,
            placeholder=tr("filter.any"), key="chat_max_price",
        )  # fmt: skip
        brands = st.multiselect(
            tr("filter.brand"),
            dona.brands(catalog),
            placeholder=tr("filter.all_brands"),
            key=f"chat_brands-{catalog}",
        )
        if st.button(tr("chat.new"), key="new_conversation", icon="🔄"):
            new_conversation(catalog)
    return catalog, Filters(min_price, max_price, tuple(brands))


def show_message(index: int, message: dict) -> None:
    with st.chat_message(message["role"]):
        st.text(message["text"])
        if message.get("notice"):  # may quote a model's or a server's words: text only
            with st.container(key=f"dona-notice-{index}"):
                st.text(message["notice"])
        products = message.get("products") or []
        if products:
            why = message.get("why") or [""] * len(products)
            notes = [
                f"[{n}] · {reason}" if reason else f"[{n}]" for n, reason in enumerate(why, start=1)
            ]
            product_grid(products, prefix=f"m{index}-", notes=notes)


def answer_pending(engine: ChatEngine, state: dict, limits: Filters) -> None:
    question = state["pending"]
    state["messages"].append({"role": "user", "text": question})
    show_message(len(state["messages"]) - 1, state["messages"][-1])
    stream = None
    text = ""
    with st.chat_message("assistant"):
        placeholder = st.empty()
        try:
            with st.spinner(tr("chat.looking")):
                stream = engine.stream(question, state["conversation"], limits)
            if stream.products:  # the cards need no model: show them while it reads
                product_grid(stream.products, prefix="pending-")
            st.button(tr("chat.stop"), key="chat_stop", icon="⏹️")  # a click reruns: stops
            pieces = iter(stream)
            with st.spinner(tr("chat.thinking")):  # until the model's first word
                first = next(pieces, "")
            text = first
            placeholder.text(text + " ▌")
            for piece in pieces:
                text += piece
                placeholder.text(text + " ▌")
            answer = stream.finish()
        except DonaError as exc:  # e.g. an empty or unusable question
            state["messages"].pop()
            placeholder.empty()
            st.session_state.chat_error = localized(exc, language())
            return
        finally:
            if stream is not None and not stream.done:  # stopped (a rerun) or failed
                stream.close()
                state["messages"].append(
                    {
                        "role": "assistant",
                        "text": text.strip() or "…",
                        "notice": tr("chat.stopped"),
                        "products": stream.products,
                    }
                )
    ids = [p.id for p in answer.products]
    state["messages"].append(
        {
            "role": "assistant",
            "text": cite_as_numbers(answer.text, ids),
            "notice": answer.notice,
            "products": answer.products,
            "why": [
                why_shown(p, answer.understanding, answer.nothing_fits, p.id in answer.cited_ids)
                for p in answer.products
            ],
        }
    )


def chat_page() -> None:
    dona = current_dona()
    catalogs = live_catalogs(dona)
    if not catalogs:
        st.error(tr("app.no_catalog"))
        return
    catalog, limits = sidebar(catalogs)
    if "chat" not in st.session_state or st.session_state.chat["catalog"] != catalog:
        new_conversation(catalog)
    state = st.session_state.chat
    settings = get_settings()
    engine = load_engine(
        str(settings.data_dir), settings.resolved_database_url, settings.llm_backend,
        settings.llm_model,
    )  # fmt: skip
    if error := st.session_state.pop("chat_error", None):
        st.error(error)
    for index, message in enumerate(state["messages"]):
        show_message(index, message)
    if not state["messages"] and not state["pending"]:
        st.caption(tr("chat.examples"))
        for n, example in enumerate(tr(key) for key in EXAMPLES):
            if st.button(example, key=f"example-{n}"):
                state["pending"] = example
                st.rerun()
    question = st.chat_input(
        tr("chat.input"), key="chat_input", disabled=state["pending"] is not None
    )
    if question and state["pending"] is None:
        state["pending"] = question
        st.rerun()  # redraw with the input disabled, then answer
    if state["pending"] is not None:
        try:
            answer_pending(engine, state, limits)
        finally:
            state["pending"] = None
        st.rerun()


run_guarded(chat_page)
