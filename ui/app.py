"""DONA, the shop's product assistant: `streamlit run ui/app.py` (or `make run`).

A thin shell over the `dona` package. Shoppers get the chat (default page) and product
search. Merchant pages are registered only for a signed-in merchant, so a shopper's
browser cannot open them by URL; each also checks the sign-in itself. The page scripts
live in ui/views/, not ui/pages/: Streamlit would auto-register a `pages/` folder, and a
direct URL would then run a page script without this shell.
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parent))  # `shared`, also under AppTest

from shared import (  # noqa: E402
    CSS,
    apply_streamlit_secrets,
    signed_in_merchant,
    tr,
)

apply_streamlit_secrets()  # before anything reads the settings

st.set_page_config(page_title="DONA", page_icon="🛍️", layout="wide")
st.markdown(CSS, unsafe_allow_html=True)
st.title("DONA")
shop = [
    st.Page("views/chat.py", title=tr("app.page.chat"), icon="💬", default=True),
    st.Page("views/search.py", title=tr("app.page.search"), icon="🔎", url_path="search"),
]
merchant = signed_in_merchant()
if merchant is None:
    pages = {
        tr("app.section.shop"): shop,
        tr("app.section.merchants"): [
            st.Page("views/sign_in.py", title=tr("app.page.sign_in"), icon="🔑", url_path="sign-in")
        ],
    }
else:
    pages = {
        tr("app.section.shop"): shop,
        tr("app.section.merchant", catalog=merchant.catalog): [
            st.Page("views/upload.py", title=tr("app.page.upload"), icon="📤", url_path="upload"),
            st.Page(
                "views/versions.py", title=tr("app.page.versions"), icon="🕘", url_path="versions"
            ),
            st.Page(
                "views/quantization.py",
                title=tr("app.page.quantization"),
                icon="🧮",
                url_path="quantization",
            ),
            st.Page(
                "views/quality.py", title=tr("app.page.quality"), icon="📊", url_path="quality"
            ),
        ],
    }
page = st.navigation(pages)
if merchant is not None and st.session_state.pop("merchant_go_upload", False):
    st.switch_page("views/upload.py")  # right after sign-in
page.run()  # each page guards itself (shared.run_guarded)
st.divider()
st.caption(tr("app.attribution"))
