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
    ATTRIBUTION,
    CSS,
    apply_streamlit_secrets,
    signed_in_merchant,
)

apply_streamlit_secrets()  # before anything reads the settings

st.set_page_config(page_title="DONA", page_icon="🛍️", layout="wide")
st.markdown(CSS, unsafe_allow_html=True)
st.title("DONA")
shop = [
    st.Page("views/chat.py", title="Ask DONA", icon="💬", default=True),
    st.Page("views/search.py", title="Search products", icon="🔎", url_path="search"),
]
merchant = signed_in_merchant()
if merchant is None:
    pages = {
        "Shop": shop,
        "Merchants": [
            st.Page("views/sign_in.py", title="Merchant sign-in", icon="🔑", url_path="sign-in")
        ],
    }
else:
    pages = {
        "Shop": shop,
        f"Merchant: {merchant.catalog}": [
            st.Page("views/upload.py", title="Upload catalog", icon="📤", url_path="upload"),
            st.Page("views/versions.py", title="Versions", icon="🕘", url_path="versions"),
            st.Page(
                "views/quantization.py", title="Quantization", icon="🧮", url_path="quantization"
            ),
            st.Page("views/quality.py", title="Quality reports", icon="📊", url_path="quality"),
        ],
    }
page = st.navigation(pages)
if merchant is not None and st.session_state.pop("merchant_go_upload", False):
    st.switch_page("views/upload.py")  # right after sign-in
page.run()  # each page guards itself (shared.run_guarded)
st.divider()
st.caption(ATTRIBUTION)
