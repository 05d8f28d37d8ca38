"""DONA shopper page: search the live catalog. Run with `streamlit run ui/app.py`.

A thin shell over `dona.service.Dona`. Catalog text (titles, brands, descriptions) is data:
it is only ever shown with `st.text`, which renders neither Markdown nor HTML. The one raw
HTML block per card is the product image, built from an escaped http(s) URL.
"""

from __future__ import annotations

import logging

import streamlit as st

from dona.catalog import Product
from dona.config import get_settings
from dona.errors import DonaError
from dona.formatting import (
    format_price,
    product_image_css,
    product_image_html,
    safe_http_url,
    snippet,
)
from dona.search import Filters
from dona.service import Dona, SearchResult

log = logging.getLogger("dona.ui")

COLUMNS = 3
NO_CATALOG = (
    "No catalog has been ingested yet, so there is nothing to search. "
    "Merchant: load your products with `dona ingest FILE` (or `make run` for the demo "
    "catalog), then reload this page."
)
ATTRIBUTION = (
    'Product data sourced from Icecat (https://icecat.biz/), provided "AS IS" under the '
    "Icecat Open Content License."
)
CSS = f"""<style>
{product_image_css("dona-img")}
[class*="st-key-dona-card"] {{ gap: 0.5rem; }}
[class*="st-key-dona-card"] .dona-img {{ margin-bottom: 1rem; }}  /* Markdown's -1rem */
[class*="st-key-dona-title"] [data-testid="stText"] {{ font-weight: 600; font-size: 1.05rem; }}
[class*="st-key-dona-price"] [data-testid="stText"] {{ font-weight: 600; }}
[class*="st-key-dona-brand"] [data-testid="stText"],
[class*="st-key-dona-desc"] [data-testid="stText"] {{ font-size: 0.875rem; opacity: 0.75; }}
</style>"""


@st.cache_resource(show_spinner="Starting DONA…")
def load_dona(data_dir: str, database_url: str) -> Dona:
    """One Dona per data directory and database (the arguments are the cache key)."""
    return Dona(get_settings())


def sidebar(dona: Dona, catalogs: list[str]) -> tuple[str, Filters, int]:
    with st.sidebar:
        st.header("Filters")
        catalog = catalogs[0]
        if len(catalogs) > 1:
            default = dona.settings.catalog
            index = catalogs.index(default) if default in catalogs else 0
            catalog = st.selectbox("Catalog", catalogs, index=index, key="catalog")
        with st.spinner("Loading the catalog…"):
            dona.served(catalog)  # load and verify the index once, behind a spinner
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


def product_card(product: Product, slot: int) -> None:
    with st.container(border=True, key=f"dona-card-{slot}"):
        st.markdown(product_image_html(product.image_url), unsafe_allow_html=True)
        with st.container(key=f"dona-title-{slot}"):
            st.text(product.title)
        if product.brand:
            with st.container(key=f"dona-brand-{slot}"):
                st.text(product.brand)
        with st.container(key=f"dona-price-{slot}"):
            st.text(format_price(product.price, product.currency))
        if product.stock == 0:
            st.caption("Out of stock")
        if product.description:
            with st.container(key=f"dona-desc-{slot}"):
                st.text(snippet(product.description, 200))
        if safe_http_url(product.url):  # only http(s) links, never javascript: etc.
            st.link_button("View product", product.url.strip())


def results_grid(results: list[SearchResult]) -> None:
    for start in range(0, len(results), COLUMNS):
        row = results[start : start + COLUMNS]
        for offset, (column, result) in enumerate(zip(st.columns(COLUMNS), row, strict=False)):
            with column:
                product_card(result.product, start + offset)


def search_page(query: str) -> None:
    settings = get_settings()
    dona = load_dona(str(settings.data_dir), settings.resolved_database_url)
    catalogs = [c["name"] for c in dona.catalogs() if c["version"] is not None]
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
    results_grid(response.results)


def main() -> None:
    st.set_page_config(page_title="DONA", page_icon="🛍️", layout="wide")
    st.markdown(CSS, unsafe_allow_html=True)
    st.title("DONA")
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
    try:
        search_page(query)
    except DonaError as exc:
        st.error(str(exc))
    except Exception:  # a bug: log it, show the shopper a sentence, not a traceback
        log.exception("the shopper page failed")
        st.error("Something went wrong on our side. Please try again in a moment.")
    st.divider()
    st.caption(ATTRIBUTION)


main()
