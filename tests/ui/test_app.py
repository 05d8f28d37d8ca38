"""The Streamlit search page, driven with AppTest over a real Dona and a real catalog
(the bundled embedding model loads in a few seconds). The chat page: test_chat_page.py."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from dona import config
from dona.service import Dona

pytestmark = pytest.mark.slow

# AppTest resolves relative paths against the calling file, not the working directory
APP = str(Path(__file__).resolve().parents[2] / "ui" / "app.py")
NASTY_TITLE = "**bold** [click](javascript:alert(1)) 1 < 2 & <b"
SPEAKER = "Boombox Mini Bluetooth Speaker"
COLUMNS = ["id", "title", "brand", "description", "price", "currency", "stock", "url", "image_url"]
PRODUCTS = [
    # id, title, brand, description, price, currency, stock, url, image_url
    (
        "sp1",
        SPEAKER,
        "Acme",
        "Portable wireless speaker with deep bass and a 12 hour battery.",
        "49.99",
        "USD",
        "5",
        "https://shop.example/sp1",
        "https://img.example/sp1.jpg",
    ),
    (
        "sp2",
        "Party Speaker XL 200W",
        "Sonora",
        "Loud bluetooth party speaker with lights.",
        "449.00",
        "USD",
        "2",
        "",
        "",
    ),
    (
        "hp1",
        "Studio Noise Cancelling Headphones",
        "Sonora",
        "Over-ear wireless headphones. " * 20,
        "299.00",
        "USD",
        "0",
        "",
        "",
    ),
    (
        "tv1",
        "UltraView 65 inch 4K OLED TV",
        "Sonora",
        "A big television for the living room.",
        "1299.00",
        "USD",
        "3",
        "",
        "",
    ),
    (
        "cb1",
        "USB-C Charging Cable 1m",
        "Acme",
        "A short braided cable for phones.",
        "4.99",
        "USD",
        "100",
        "",
        "",
    ),
    (
        "kb1",
        "Mechanical Keyboard",
        "Acme",
        "Tactile switches, aluminium frame.",
        "89.50",
        "USD",
        "12",
        "",
        "",
    ),
    # Ingest drops real HTML tags; what survives it (Markdown, a link, stray "<" and "&")
    # must still be shown literally.
    (
        "x1",
        NASTY_TITLE,
        "Acme",
        "**not bold** [link](javascript:alert(2)) :red[red]",
        "19.95",
        "EUR",
        "1",
        "",
        "",
    ),
    ("lp1", "Laptop Stand Aluminium", "Sonora", "", "", "USD", "", "", ""),
]
TITLES = {SPEAKER, NASTY_TITLE} | {p[1] for p in PRODUCTS}


def catalog_csv() -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(COLUMNS)
    writer.writerows(PRODUCTS)
    return buf.getvalue().encode()


def use_data_dir(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    monkeypatch.setenv("DONA_DATA_DIR", str(path))
    monkeypatch.delenv("DONA_DATABASE_URL", raising=False)
    monkeypatch.delenv("DONA_CATALOG", raising=False)
    config.get_settings.cache_clear()


@pytest.fixture(scope="module")
def catalog_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dona-ui")
    with pytest.MonkeyPatch.context() as mp:
        use_data_dir(mp, path)
        report = Dona().ingest_bytes(catalog_csv(), filename="c.csv")
        assert report.products == len(PRODUCTS)
    config.get_settings.cache_clear()
    return path


@pytest.fixture(autouse=True)
def fresh_caches():
    st.cache_resource.clear()
    st.cache_data.clear()
    config.get_settings.cache_clear()
    yield
    st.cache_resource.clear()
    config.get_settings.cache_clear()


def open_search(at: AppTest | None = None) -> AppTest:
    """The app (chat is its default page), switched to the search page."""
    if at is None:  # (an AppTest that has not run yet is falsy)
        at = AppTest.from_file(APP, default_timeout=60)
    at.switch_page("views/search.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.fixture
def app(catalog_dir: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    use_data_dir(monkeypatch, catalog_dir)
    return open_search()


def search(at: AppTest, query: str) -> AppTest:
    at.text_input(key="query").input(query).run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def shown_titles(at: AppTest) -> list[str]:
    return [t.value for t in at.text if t.value in TITLES]


def shown_texts(at: AppTest) -> list[str]:
    return [t.value for t in at.text]


def by_title(title: str) -> tuple:
    return next(p for p in PRODUCTS if p[1] == title or (p[0] == "x1" and title == NASTY_TITLE))


def test_app_shell_has_title_navigation_and_attribution(catalog_dir: Path, monkeypatch):
    use_data_dir(monkeypatch, catalog_dir)
    monkeypatch.setenv("DONA_LLM_BACKEND", "extractive")
    at = AppTest.from_file(APP, default_timeout=60).run()  # the chat is the default page
    assert not at.exception and at.title[0].value == "DONA"
    footer = next(c.value for c in at.caption if "Icecat" in c.value)
    assert "Product data sourced from Icecat (https://icecat.biz/)" in footer
    assert 'provided "AS IS" under the Icecat Open Content License.' in footer


def test_search_box_and_filters(app: AppTest):
    assert app.text_input(key="query").value == ""
    assert app.number_input(key="max_price").value is None
    assert sorted(app.multiselect(key="brands-default").options) == ["Acme", "Sonora"]
    assert app.checkbox(key="in_stock").value is False
    assert not app.error
    assert not shown_titles(app)  # nothing searched yet


def test_empty_query_shows_no_error(app: AppTest):
    search(app, "   ")
    assert not shown_titles(app)
    assert not app.info


def test_query_shows_the_speaker_card(app: AppTest):
    search(app, "speaker")
    titles = shown_titles(app)
    assert SPEAKER in titles
    assert titles.index(SPEAKER) < 2  # one of the two speakers ranks first
    texts = shown_texts(app)
    assert "$49.99" in texts
    assert "Acme" in texts
    assert "€19.95" in texts  # the product's own currency
    assert "Price on request" in texts  # the laptop stand has no price
    images = [m.value for m in app.markdown if "<img" in m.value]
    assert len(images) == len(titles)
    assert any('src="https://img.example/sp1.jpg"' in m for m in images)
    assert sum('src="data:image/svg+xml;base64,' in m for m in images) == len(titles) - 1
    assert "Out of stock" in [c.value for c in app.caption]  # the headphones


def test_long_descriptions_are_shortened(app: AppTest):
    search(app, "noise cancelling headphones")
    description = next(t for t in shown_texts(app) if t.startswith("Over-ear"))
    assert len(description) <= 200
    assert description.endswith("…")


def test_max_price_filter_holds(app: AppTest):
    search(app, "speaker")
    app.number_input(key="max_price").set_value(100.0).run()
    assert not app.exception and not app.error
    titles = shown_titles(app)
    assert SPEAKER in titles
    assert "Party Speaker XL 200W" not in titles
    for title in titles:
        price = by_title(title)[4]
        assert price and float(price) <= 100.0, title


def test_brand_and_stock_filters_hold(app: AppTest):
    search(app, "speaker")
    app.multiselect(key="brands-default").select("Sonora").run()
    titles = shown_titles(app)
    assert titles and SPEAKER not in titles
    assert all(by_title(t)[2] == "Sonora" for t in titles)
    app.checkbox(key="in_stock").check().run()
    in_stock = shown_titles(app)
    assert "Studio Noise Cancelling Headphones" not in in_stock
    assert "Party Speaker XL 200W" in in_stock


def test_number_of_results(app: AppTest):
    app.slider(key="k").set_value(3).run()
    search(app, "speaker")
    assert len(shown_titles(app)) == 3


def test_filters_that_match_nothing_say_so(app: AppTest):
    search(app, "speaker")
    app.number_input(key="min_price").set_value(5000.0).run()
    assert not app.exception and not app.error
    assert not shown_titles(app)
    message = app.info[0].value
    assert "No products match" in message
    assert "filters" in message


def test_bad_filter_values_show_a_friendly_error(app: AppTest):
    app.number_input(key="min_price").set_value(500.0).run()
    app.number_input(key="max_price").set_value(100.0).run()
    app.text_input(key="query").input("speaker").run()
    assert not app.exception
    assert "minimum price" in app.error[0].value


def test_catalog_text_is_shown_literally_never_as_markup(app: AppTest):
    search(app, "script alert bold")
    texts = shown_texts(app)
    assert NASTY_TITLE in texts  # st.text: neither HTML nor Markdown is rendered
    assert "**not bold** [link](javascript:alert(2)) :red[red]" in texts
    markup = [m.value for m in app.markdown] + [c.value for c in app.caption]
    for value in markup:  # nothing from the catalog reaches a Markdown/HTML element
        assert "alert(" not in value and "bold" not in value, value


def test_no_catalog_yet_is_a_friendly_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    use_data_dir(monkeypatch, tmp_path / "empty")
    at = open_search()
    assert not at.exception
    assert "dona ingest FILE" in at.error[0].value
    at.text_input(key="query").input("speaker").run()
    assert not at.exception
    assert "dona ingest FILE" in at.error[0].value


def test_each_data_dir_gets_its_own_dona(
    catalog_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    use_data_dir(monkeypatch, catalog_dir)
    search(open_search(), "speaker")
    use_data_dir(monkeypatch, tmp_path / "other")  # the cached Dona must not leak across
    at = open_search()
    assert "dona ingest FILE" in at.error[0].value


def test_query_in_the_address_is_searched_and_kept(catalog_dir: Path, monkeypatch):
    use_data_dir(monkeypatch, catalog_dir)
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["q"] = "speaker"
    open_search(at)
    assert not at.exception and not at.error
    assert SPEAKER in shown_titles(at)
    search(at, "keyboard")
    assert at.query_params["q"] == "keyboard"


def test_catalog_selector_when_there_are_several(tmp_path: Path, monkeypatch):
    use_data_dir(monkeypatch, tmp_path)
    dona = Dona()
    dona.ingest_bytes(catalog_csv(), filename="c.csv")
    outlet = b"id,title,brand,price,currency\nout1,Outlet Speaker Refurbished,Bargain Co,9.00,JPY\n"
    dona.ingest_bytes(outlet, filename="outlet.csv", catalog="outlet")
    at = open_search()
    assert at.selectbox(key="catalog").options == ["default", "outlet"]
    assert at.selectbox(key="catalog").value == "default"  # DONA_CATALOG's default
    search(at, "speaker")
    assert SPEAKER in shown_titles(at)
    at.selectbox(key="catalog").select("outlet").run()
    assert not at.exception and not at.error
    assert at.multiselect(key="brands-outlet").options == ["Bargain Co"]
    texts = shown_texts(at)
    assert "Outlet Speaker Refurbished" in texts and "¥9" in texts
    assert not shown_titles(at)  # nothing from the default catalog


def test_single_catalog_has_no_selector(app: AppTest):
    assert not app.selectbox
