"""Product search: a search box, filters in the sidebar, a grid of product cards."""

from __future__ import annotations

import streamlit as st
from shared import (
    current_dona,
    language,
    live_catalogs,
    pick_catalog,
    product_grid,
    run_guarded,
    tr,
)

from dona.i18n import number
from dona.search import Filters
from dona.service import Dona


def sidebar(dona: Dona, catalogs: list[str]) -> tuple[str, Filters, int]:
    with st.sidebar:
        st.header(tr("filter.header"))
        catalog = pick_catalog(dona, catalogs)
        min_price = st.number_input(
            tr("filter.min_price"), min_value=0.0, value=None, step=10.0,
            placeholder=tr("filter.any"), key="min_price",
        )  # fmt: skip
        max_price = st.number_input(
            tr("filter.max_price"), min_value=0.0, value=None, step=10.0,
            placeholder=tr("filter.any"), key="max_price",
        )  # fmt: skip
        brands = st.multiselect(
            tr("filter.brand"),
            dona.brands(catalog),
            placeholder=tr("filter.all_brands"),
            key=f"brands-{catalog}",  # a new catalog starts with no brand chosen
        )
        in_stock = st.checkbox(tr("filter.in_stock"), key="in_stock")
        k = st.slider(tr("filter.results"), min_value=3, max_value=48, value=12, step=3, key="k")
    return catalog, Filters(min_price, max_price, tuple(brands), None, in_stock), k


def search_page() -> None:
    if "query" not in st.session_state:  # a shared link: ?q=bluetooth+speaker
        st.session_state.query = st.query_params.get("q", "")
    query = st.text_input(tr("search.box"), placeholder=tr("search.placeholder"), key="query")
    if query.strip():  # keep the address shareable
        st.query_params["q"] = query
    else:
        st.query_params.pop("q", None)
    dona = current_dona()
    catalogs = live_catalogs(dona)
    if not catalogs:
        st.error(tr("app.no_catalog"))
        return
    catalog, filters, k = sidebar(dona, catalogs)
    if not query.strip():
        st.caption(tr("search.hint"))
        return
    with st.spinner(tr("search.searching")):
        response = dona.search(query, catalog=catalog, k=k, filters=filters)
    if not response.results:
        st.info(tr("search.no_match_filters" if filters.active else "search.no_match"))
        return
    count = len(response.results)  # st.text: the query and catalog words are data
    key = "search.count_one" if count == 1 else "search.count_many"
    st.text(tr(key, count=number(count, language()), query=response.query))
    if response.searched_as:
        st.text(tr("search.searched_as", words=response.searched_as))
    product_grid([r.product for r in response.results])


run_guarded(search_page)
