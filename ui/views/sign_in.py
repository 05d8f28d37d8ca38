"""Merchant sign-in. Failed attempts are limited per username, per address and in all
(dona/store/accounts.py); a session ends when it sits idle, or when the account is
removed or its password changes (shared.signed_in_merchant)."""

from __future__ import annotations

import streamlit as st
from shared import (
    SIGNED_OUT_KEY,
    client_address,
    current_dona,
    run_guarded,
    signed_in_merchant,
    start_merchant_session,
    tr,
)


def sign_in_page() -> None:
    st.header(tr("sign_in.title"))
    if signed_in_merchant() is not None:
        st.success(tr("sign_in.done"))
        return
    notice = st.session_state.pop(SIGNED_OUT_KEY, None)
    if notice:
        st.info(f"{notice[:1].upper()}{notice[1:]}.")
    st.caption(tr("sign_in.accounts"))
    with st.form("sign_in"):
        username = st.text_input(tr("sign_in.username"), key="sign_in_username")
        password = st.text_input(tr("sign_in.password"), type="password", key="sign_in_password")
        submitted = st.form_submit_button(tr("sign_in.submit"))
    if submitted:
        merchant = current_dona().accounts.authenticate(username, password, client=client_address())
        start_merchant_session(merchant)
        st.session_state["merchant_go_upload"] = True  # app.py opens the upload page
        st.rerun()


run_guarded(sign_in_page)
