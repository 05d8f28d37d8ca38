"""Product search: a search box, filters in the sidebar, a grid of product cards."""

from __future__ import annotations

import streamlit as st
from shared import (
    NO_CATALOG,
    current_dona,
    live_catalogs,
    pick_catalog,
    product_grid,
    run_guarded,
)

from dona.search import Filters
from dona.service import Dona


def sidebar(dona: Dona, catalogs: list[str]) -> tuple[str, Filters, int]:
    with st.sidebar:
        st.header("Filters")
        catalog = pick_catalog(dona, catalogs)
        min_price = st.number_input(
            "Min price", min_value=0.0, value=None, step=10.0, placeholder="Any", key="min_price"
        )
        max_price = st.number_input(
            "Max price", min_value=0.0, value=None, step=10.0, placeholder="Any", key="max_price"
        )
        brands = st.multiselect(
            "Brand",
            dona.brands(catalog),
            placeholder="All brands",
            key=f"brands-{catalog}",  # a new catalog starts with no brand chosen
        )
        in_stock = st.checkbox("In stock only", key="in_stock")
        k = st.slider("Number of results", min_value=3, max_value=48, value=12, step=3, key="k")
    return catalog, Filters(min_price, max_price, tuple(brands), None, in_stock), k


def search_page() -> None:
    if "query" not in st.session_state:  # a shared link: ?q=bluetooth+speaker
        st.session_state.query = st.query_params.get("q", "")
    query = st.text_input(
        "Search products",
        placeholder="What are you looking for? e.g. bluetooth speaker",
        key="query",
    )
    if query.strip():  # keep the address shareable
        st.query_params["q"] = query
    else:
        st.query_params.pop("q", None)
    dona = current_dona()
    catalogs = live_catalogs(dona)
    if not catalogs:
        st.error(NO_CATALOG)
        return
    catalog, filters, k = sidebar(dona, catalogs)
    if not query.strip():
        st.caption("Type what you are looking for and press Enter.")
        return
    with st.spinner("Searching…"):
        response = dona.search(query, catalog=catalog, k=k, filters=filters)
    if not response.results:
        hint = " Try removing some filters in the sidebar." if filters.active else ""
        st.info(f"No products match your search.{hint} Other words may find more.")
        return
    count = len(response.results)
    st.text(f"{count} product{'s' if count != 1 else ''} for “{response.query}”")
    if response.searched_as:  # st.text: catalog words are data, never Markdown
        st.text(f"Searched the catalog for: {response.searched_as}")
    product_grid([r.product for r in response.results])


run_guarded(search_page)
