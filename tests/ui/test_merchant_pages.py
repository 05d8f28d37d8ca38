"""The merchant pages with AppTest over a real Dona (real SQLite, the bundled embedder):
sign-in and its rate limit, upload with preview, mapping and validation report, ingest,
versions with rollback, the quantization panel through the gate, the quality page; and
that a shopper reaches none of them."""

from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from dona import config
from dona.service import Dona

pytestmark = pytest.mark.slow

UI = Path(__file__).resolve().parents[2] / "ui"
APP = str(UI / "app.py")
PASSWORD = "correct horse battery"
GOOD = b"id,title,brand,price\nk1,Red Kettle,Acme,20\nk2,Steel Toaster,Acme,35\n"
BAD_ROW = GOOD + b"k3,,Acme,12\n"
FIXED = GOOD + b"k3,Glass Teapot,Acme,12\n"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def use_data_dir(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    monkeypatch.setenv("DONA_DATA_DIR", str(path))
    monkeypatch.setenv("DONA_LLM_BACKEND", "extractive")
    monkeypatch.delenv("DONA_DATABASE_URL", raising=False)
    monkeypatch.delenv("DONA_CATALOG", raising=False)
    config.get_settings.cache_clear()


@pytest.fixture(autouse=True)
def fresh_caches():
    st.cache_resource.clear()
    config.get_settings.cache_clear()
    yield
    st.cache_resource.clear()
    config.get_settings.cache_clear()


@pytest.fixture
def shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Dona:
    """A data dir with a live catalog 'kitchen' and its merchant, plus another merchant."""
    use_data_dir(monkeypatch, tmp_path / "data")
    dona = Dona()
    dona.ingest_bytes(GOOD, filename="kitchen.csv", catalog="kitchen")
    dona.accounts.create("kim", PASSWORD, "kitchen")
    dona.accounts.create("gus", PASSWORD, "garden")
    yield dona
    dona.store.dispose()


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    return at


def sign_in(username: str = "kim", password: str = PASSWORD) -> AppTest:
    at = ok(AppTest.from_file(APP, default_timeout=60).run())
    at.switch_page("views/sign_in.py")
    ok(at.run())
    at.text_input(key="sign_in_username").input(username)
    at.text_input(key="sign_in_password").input(password)
    at.button[0].click()  # the form's submit button
    return ok(at.run())


def open_page(at: AppTest, page: str) -> AppTest:
    """AppTest keeps its own current page: name it before each interaction's run."""
    at.switch_page(f"views/{page}")
    return ok(at.run())


def upload(at: AppTest, name: str, data: bytes, mime: str = "text/csv") -> AppTest:
    at.switch_page("views/upload.py")
    at.file_uploader[0].set_value((name, data, mime))
    return ok(at.run())


def ingest_button(at: AppTest):
    return next(b for b in at.button if b.label == "Ingest")


def press_ingest(at: AppTest) -> AppTest:
    at.switch_page("views/upload.py")
    ingest_button(at).click()
    return ok(at.run())


def texts(at: AppTest) -> list[str]:
    return [t.value for t in at.text]


def test_sign_in_opens_the_upload_page(shop):
    at = sign_in()
    assert not at.error, [e.value for e in at.error]
    assert at.header[0].value == "Upload catalog: kitchen"
    assert any("Live now: version 1, 2 products" in c.value for c in at.caption)
    assert any(c.value == "Signed in as kim" for c in at.sidebar.caption)


def test_wrong_password_then_rate_limit(shop):
    for _ in range(shop.settings.signin_max_failures):
        at = sign_in(password="not it at all")
        assert [e.value for e in at.error] == ["wrong username or password"]
    at = sign_in()  # the right password, too late
    assert "too many failed sign-ins for 'kim'" in at.error[0].value
    assert at.header[0].value == "Merchant sign-in"


def test_merchant_pages_are_unreachable_for_shoppers(shop):
    at = ok(AppTest.from_file(APP, default_timeout=60).run())
    for page in ("upload.py", "versions.py", "quantization.py", "quality.py"):
        # not registered in the shopper's navigation at all
        with pytest.raises(ValueError, match="Could not find a navigation page") as missing:
            at.switch_page(f"views/{page}")
        known = str(missing.value).split("Known pages:")[1]
        assert "sign_in.py" in known and page not in known
    # and a page script run on its own (not through the app) shows only the sign-in hint
    for page in ("upload.py", "versions.py", "quantization.py", "quality.py"):
        direct = ok(AppTest.from_file(str(UI / "views" / page), default_timeout=60).run())
        assert [w.value for w in direct.warning] == ["This page is for merchants. Sign in first."]
        assert not direct.header and not direct.button


def test_upload_with_a_bad_row_then_the_fixed_file(shop):
    at = sign_in()
    upload(at, "kitchen.csv", BAD_ROW)
    assert at.subheader[0].value == "Preview"
    assert "1 of 3 rows have problems" in at.error[0].value
    problems = at.dataframe[1].value
    assert problems.to_dict("records") == [
        {"row": 4, "product id": "k3", "problem": "missing title"}
    ]
    ingest = ingest_button(at)
    assert ingest.disabled  # nothing can change while the file has problems
    assert shop.versions("kitchen")[0].version == 1

    upload(at, "kitchen.csv", FIXED)
    assert any("All 3 rows are valid: 3 products." in s.value for s in at.success)
    press_ingest(at)
    assert any("Version 2 of kitchen is live: 3 products" in s.value for s in at.success)
    found = shop.search("glass teapot", catalog="kitchen", k=1).results[0].product
    assert found.title == "Glass Teapot"


def test_column_mapping_rescues_unusual_headers(shop):
    at = sign_in()
    unusual = b"code,label,cost\nm1,Milk Frother,15\n"
    upload(at, "odd.csv", unusual)
    assert "no column for id and title" in at.error[0].value  # the mapping is still shown
    at.selectbox(key=next(s.key for s in at.selectbox if s.key.endswith("_id"))).select("code")
    at.selectbox(key=next(s.key for s in at.selectbox if s.key.endswith("_title"))).select("label")
    at.selectbox(key=next(s.key for s in at.selectbox if s.key.endswith("_price"))).select("cost")
    at.switch_page("views/upload.py")
    ok(at.run())
    assert any("All 1 rows are valid" in s.value for s in at.success)
    press_ingest(at)
    product = shop.search("milk frother", catalog="kitchen", k=1).results[0].product
    assert (product.id, product.price) == ("m1", 15.0)


def test_versions_page_restores_an_earlier_version(shop):
    shop.ingest_bytes(FIXED, filename="kitchen2.csv", catalog="kitchen")
    at = open_page(sign_in(), "versions.py")
    assert at.header[0].value == "Versions: kitchen"
    listing = texts(at)
    assert listing[0].startswith("Version 2 · live · 3 products")
    assert listing[1].startswith("Version 1 · ready · 2 products")
    at.switch_page("views/versions.py")
    at.button(key="merchant_restore_1").click()
    ok(at.run())
    assert any(s.value == "Version 1 is live again." for s in at.success)
    assert shop.store.live_version("kitchen").number == 1
    assert [r["status"] for r in at.dataframe[0].value.to_dict("records")] == ["succeeded"] * 2


def test_a_merchant_only_sees_their_own_catalog(shop):
    at = sign_in("gus")
    assert at.header[0].value == "Upload catalog: garden"
    at.switch_page("views/versions.py")
    ok(at.run())
    assert [i.value for i in at.info] == ["No versions yet: upload a catalog first."]
    assert shop.store.live_version("kitchen").number == 1


def test_quantization_panel_adopts_only_through_the_gate(shop):
    at = open_page(sign_in(), "quantization.py")
    assert at.header[0].value == "Quantization: kitchen"
    at.multiselect(key="merchant_candidates").set_value(["int8"])
    at.switch_page("views/quantization.py")
    at.button(key="merchant_autopilot").click()
    ok(at.run())
    rows = at.dataframe[0].value.to_dict("records")
    assert {(r["candidate"], r["mode"]) for r in rows} == {
        ("f32", "dense"), ("f32", "hybrid"), ("int8", "dense"), ("int8", "hybrid"),
    }  # fmt: skip
    assert at.get("image")  # the quality-vs-memory plot
    # known outcome: on two products the calibrated int8 codes rank exactly as f32 does
    assert [r["gate"] for r in rows] == ["pass"] * 4
    (adopted,) = at.success
    assert adopted.value.startswith("Adopted int8: version 2 is live (")
    assert shop.store.live_version("kitchen").phase == "int8"


def test_quality_page_shows_the_reports(shop):
    at = open_page(sign_in(), "quality.py")
    assert at.header[0].value == "Quality reports"
    assert any("Index phases" in m.value for m in at.markdown)
    models = {r["model"] for r in at.dataframe[0].value.to_dict("records")}
    assert {"smollm2-135m", "qwen2.5-0.5b", "qwen2.5-1.5b"} <= models
    assert at.get("vega_lite_chart")  # chat quality against speed
    assert at.get("image")  # the phases' quality-against-memory plot


def test_sign_out(shop):
    at = open_page(sign_in(), "versions.py")
    at.switch_page("views/versions.py")  # stay on the page the button was drawn on
    at.sidebar.button(key="sign_out").click()
    ok(at.run())
    assert "merchant" not in at.session_state
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("views/versions.py")  # unregistered again


def test_xlsx_upload(shop):
    import io

    import openpyxl

    book = openpyxl.Workbook()
    for row in (["SKU", "Product Name", "Price"], [501, "Copper Kettle", 42.0]):
        book.active.append(row)
    data = io.BytesIO()
    book.save(data)
    at = sign_in()
    upload(at, "kitchen.xlsx", data.getvalue(), XLSX_TYPE)
    assert any("kitchen.xlsx: xlsx, 3 columns" in c.value for c in at.caption)
    assert any("All 1 rows are valid" in s.value for s in at.success)
    press_ingest(at)
    product = shop.search("copper kettle", catalog="kitchen", k=1).results[0].product
    assert (product.id, product.price) == ("501", 42.0)
