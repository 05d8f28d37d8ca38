"""DONA, the shop's product assistant: `streamlit run ui/app.py` (or `make run`).

A thin shell over the `dona` package: the chat (default page) and product search.
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parent))  # `shared`, also under AppTest

from shared import ATTRIBUTION, CSS  # noqa: E402

st.set_page_config(page_title="DONA", page_icon="🛍️", layout="wide")
st.markdown(CSS, unsafe_allow_html=True)
st.title("DONA")
page = st.navigation(
    [
        st.Page("pages/chat.py", title="Ask DONA", icon="💬", default=True),
        st.Page("pages/search.py", title="Search products", icon="🔎", url_path="search"),
    ]
)
page.run()  # each page guards itself (shared.run_guarded)
st.divider()
st.caption(ATTRIBUTION)
