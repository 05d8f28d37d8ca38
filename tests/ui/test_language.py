"""The pages in the shopper's language (AppTest over a real Dona and catalog): Spanish with
DONA_LANGUAGE=es or a Spanish browser, English by default."""

from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest
from test_app import APP, catalog_csv, use_data_dir

from dona import config
from dona.service import Dona

pytestmark = pytest.mark.slow

PASSWORD = "correct horse battery"
BAD_ROW = b"id,title,brand,price\nk1,Red Kettle,Acme,20\nk2,Steel Toaster,Acme,35\nk3,,Acme,12\n"


@pytest.fixture(scope="module")
def shop_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dona-language")
    with pytest.MonkeyPatch.context() as mp:
        use_data_dir(mp, path)
        dona = Dona()
        dona.ingest_bytes(catalog_csv(), filename="c.csv")
        dona.accounts.create("kim", PASSWORD, "default")
        dona.store.dispose()
    config.get_settings.cache_clear()
    return path


@pytest.fixture(autouse=True)
def fresh(shop_dir: Path, monkeypatch: pytest.MonkeyPatch):
    st.cache_resource.clear()
    use_data_dir(monkeypatch, shop_dir)
    monkeypatch.setenv("DONA_LLM_BACKEND", "extractive")
    monkeypatch.delenv("DONA_LANGUAGE", raising=False)
    yield
    st.cache_resource.clear()
    config.get_settings.cache_clear()


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    return at


def open_page(page: str, locale: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    if locale:
        at.context["locale"] = locale  # what the browser says (navigator.language)
    ok(at.run())  # the chat, the default page; then the page asked for
    at.switch_page(f"views/{page}")
    return ok(at.run())


def spanish(monkeypatch: pytest.MonkeyPatch, setting: str = "es") -> None:
    monkeypatch.setenv("DONA_LANGUAGE", setting)
    config.get_settings.cache_clear()


def search_labels(at: AppTest) -> dict[str, str]:
    return {
        "box": at.text_input(key="query").label,
        "placeholder": at.text_input(key="query").placeholder,
        "filters": at.sidebar.header[0].value,
        "max_price": at.number_input(key="max_price").label,
        "in_stock": at.checkbox(key="in_stock").label,
        "hint": at.caption[0].value,
        "footer": at.caption[-1].value,
    }


def test_search_page_in_spanish(monkeypatch):
    spanish(monkeypatch)
    at = open_page("search.py")
    assert search_labels(at) == {
        "box": "Buscar productos",
        "placeholder": "¿Qué estás buscando? p. ej. auriculares bluetooth",
        "filters": "Filtros",
        "max_price": "Precio máximo",
        "in_stock": "Solo con stock",
        "hint": "Escribe lo que buscas y presiona Enter.",
        "footer": 'Datos de productos de Icecat (https://icecat.biz/), provistos "TAL CUAL" '
        '("AS IS") bajo la Icecat Open Content License.',
    }
    at.text_input(key="query").input("noise cancelling headphones").run()
    ok(at)
    texts = [t.value for t in at.text]
    assert any(t.endswith("productos para “noise cancelling headphones”") for t in texts), texts
    assert "Sin stock" in [c.value for c in at.caption]
    at.text_input(key="query").input("laptop stand").run()
    assert "Precio a consultar" in [t.value for t in ok(at).text]
    # a shopper's mistake, in their language
    at.number_input(key="min_price").set_value(500.0).run()
    at.number_input(key="max_price").set_value(100.0).run()
    assert [e.value for e in ok(at).error] == [
        "el precio mínimo (500) es mayor que el máximo (100)"
    ]


def test_search_page_in_english_by_default():
    at = open_page("search.py")
    labels = search_labels(at)
    assert labels["box"] == "Search products" and labels["filters"] == "Filters"
    assert labels["hint"] == "Type what you are looking for and press Enter."
    assert labels["footer"].startswith("Product data sourced from Icecat")


def test_the_browser_language_decides_unless_set():
    at = open_page("search.py", locale="es-AR")
    assert search_labels(at)["box"] == "Buscar productos"
    assert open_page("search.py", locale="en-GB").text_input(key="query").label == (
        "Search products"
    )


def test_the_setting_overrides_the_browser(monkeypatch):
    spanish(monkeypatch, "en")
    at = open_page("search.py", locale="es-AR")
    assert search_labels(at)["box"] == "Search products"


def test_chat_page_in_spanish(monkeypatch):
    spanish(monkeypatch)
    at = AppTest.from_file(APP, default_timeout=60)
    ok(at.run())  # the chat is the default page
    assert at.chat_input(key="chat_input").placeholder == "Pregunta por productos…"
    assert at.button(key="new_conversation").label == "Nueva conversación"
    assert at.button(key="example-0").label.startswith("¿Un parlante bluetooth")
    assert at.sidebar.header[0].value == "Límites"
    at.chat_input(key="chat_input").set_value("   ").run()  # an empty question
    assert [e.value for e in ok(at).error] == ["escribe lo que buscas (la búsqueda está vacía)"]


def sign_in(password: str, locale: str | None = None) -> AppTest:
    at = open_page("sign_in.py", locale)
    at.text_input(key="sign_in_username").input("kim")
    at.text_input(key="sign_in_password").input(password)
    at.button[0].click()
    return ok(at.run())


def test_sign_in_page_in_spanish(monkeypatch):
    spanish(monkeypatch)
    at = open_page("sign_in.py")
    assert at.header[0].value == "Acceso para comerciantes"
    assert at.text_input(key="sign_in_username").label == "Usuario"
    assert at.text_input(key="sign_in_password").label == "Contraseña"
    assert at.button[0].label == "Iniciar sesión"
    at = sign_in("not it at all")
    assert [e.value for e in at.error] == ["usuario o contraseña incorrectos"]


def test_sign_in_page_in_english_by_default():
    at = open_page("sign_in.py")
    assert at.header[0].value == "Merchant sign-in"
    assert at.text_input(key="sign_in_username").label == "Username"
    assert at.button[0].label == "Sign in"
    assert [e.value for e in sign_in("not it at all").error] == ["wrong username or password"]


def test_upload_page_in_spanish_for_a_spanish_browser():
    at = sign_in(PASSWORD, locale="es-ES")
    assert at.header[0].value == "Subir catálogo: default"
    assert any(c.value == "Sesión iniciada como kim" for c in at.sidebar.caption)
    at.switch_page("views/upload.py")
    at.file_uploader[0].set_value(("kettles.csv", BAD_ROW, "text/csv"))
    ok(at.run())
    assert at.subheader[0].value == "Vista previa"
    assert at.error[0].value.startswith("1 de 3 filas tienen problemas.")
    assert at.dataframe[1].value.to_dict("records") == [
        {"fila": 4, "id del producto": "k3", "problema": "missing title"}
    ]
    assert at.button(key=next(b.key for b in at.button if "ingest" in str(b.key))).label == (
        "Cargar"
    )
    at.switch_page("views/upload.py")
    at.file_uploader[0].set_value(("odd.csv", b"code,label\nm1,Milk Frother\n", "text/csv"))
    ok(at.run())  # the error comes back from the checking child process, code and all
    assert at.error[0].value.startswith("esto no parece un catálogo de productos: no hay columna")
