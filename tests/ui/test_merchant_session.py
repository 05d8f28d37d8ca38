"""Merchant sessions in the app (AppTest over a real Dona on SQLite): a session ends when
the account is removed, its password changes or it sits idle past the timeout, and the
merchant pages act through the core's authorization."""

from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from dona import config
from dona.service import Dona

pytestmark = pytest.mark.slow

APP = str(Path(__file__).resolve().parents[2] / "ui" / "app.py")
PASSWORD = "correct horse battery"
GOOD = b"id,title,brand,price\nk1,Red Kettle,Acme,20\nk2,Steel Toaster,Acme,35\n"


@pytest.fixture
def shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Dona:
    monkeypatch.setenv("DONA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DONA_LLM_BACKEND", "extractive")
    monkeypatch.delenv("DONA_DATABASE_URL", raising=False)
    monkeypatch.delenv("DONA_CATALOG", raising=False)
    st.cache_resource.clear()
    config.get_settings.cache_clear()
    dona = Dona()
    dona.ingest_bytes(GOOD, filename="kitchen.csv", catalog="kitchen")
    dona.accounts.create("kim", PASSWORD, "kitchen")
    yield dona
    dona.store.dispose()
    st.cache_resource.clear()
    config.get_settings.cache_clear()


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    return at


def signed_in_on_versions() -> AppTest:
    at = ok(AppTest.from_file(APP, default_timeout=60).run())
    at.switch_page("views/sign_in.py")
    ok(at.run())
    at.text_input(key="sign_in_username").input("kim")
    at.text_input(key="sign_in_password").input(PASSWORD)
    at.button[0].click()
    ok(at.run())
    at.switch_page("views/versions.py")
    ok(at.run())
    assert at.header[0].value == "Versions: kitchen"
    return at


def assert_signed_out(at: AppTest, why: str) -> None:
    assert "merchant" not in at.session_state
    assert not any(h.value == "Versions: kitchen" for h in at.header)
    assert any(why in t.value for t in at.toast), [t.value for t in at.toast]
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("views/versions.py")  # the merchant pages are gone from the menu
    at.switch_page("views/sign_in.py")
    ok(at.run())
    assert any(why in i.value for i in at.info)  # and the sign-in page says why


@pytest.mark.parametrize("change", ["removed", "new password"])
def test_a_changed_account_is_signed_out_at_its_next_page(shop, change):
    at = signed_in_on_versions()
    if change == "removed":
        shop.accounts.remove("kim")
    else:
        shop.accounts.set_password("kim", "another good password")
    at.switch_page("views/versions.py")
    ok(at.run())
    assert_signed_out(at, "removed or its password changed")


def test_an_idle_session_is_signed_out(shop):
    at = signed_in_on_versions()
    at.session_state["merchant_seen"] = 0.0  # last page view long before the timeout
    at.switch_page("views/versions.py")
    ok(at.run())
    assert_signed_out(at, "without activity")


def test_an_active_session_stays(shop):
    at = signed_in_on_versions()
    for _ in range(2):
        at.switch_page("views/versions.py")
        ok(at.run())
        assert at.header[0].value == "Versions: kitchen"
    assert not at.toast
