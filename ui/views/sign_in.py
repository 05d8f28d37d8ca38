"""Merchant sign-in. Failed attempts are rate limited per username (dona/store/accounts.py)."""

from __future__ import annotations

import streamlit as st
from shared import MERCHANT_KEY, current_dona, run_guarded, signed_in_merchant


def sign_in_page() -> None:
    st.header("Merchant sign-in")
    if signed_in_merchant() is not None:
        st.success("You are signed in; the merchant pages are in the menu.")
        return
    st.caption(
        "Merchant accounts are created by the shop's operator with "
        "`dona merchant add NAME --catalog CATALOG`."
    )
    with st.form("sign_in"):
        username = st.text_input("Username", key="sign_in_username")
        password = st.text_input("Password", type="password", key="sign_in_password")
        submitted = st.form_submit_button("Sign in")
    if submitted:
        st.session_state[MERCHANT_KEY] = current_dona().accounts.authenticate(username, password)
        st.session_state["merchant_go_upload"] = True  # app.py opens the upload page
        st.rerun()


run_guarded(sign_in_page)
