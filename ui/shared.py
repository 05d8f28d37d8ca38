"""What the DONA pages share: the cached service, the catalog picker, product cards.

Catalog text (titles, brands, descriptions, specs) and model output are data: they are
only ever shown with `st.text`, which renders neither Markdown nor HTML. The one raw HTML
block per card is the product image, built from an escaped http(s) URL.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable

import streamlit as st

from dona.catalog import Product
from dona.config import get_settings
from dona.errors import ConfigError, DonaError, IndexIntegrityError, SignedOutError
from dona.formatting import (
    format_price,
    product_image_css,
    product_image_html,
    safe_http_url,
    shopper_specs,
    snippet,
)
from dona.service import Dona
from dona.store.accounts import Merchant

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
[class*="st-key-dona-specs"] [data-testid="stText"],
[class*="st-key-dona-desc"] [data-testid="stText"] {{ font-size: 0.875rem; opacity: 0.75; }}
</style>"""


def apply_streamlit_secrets() -> None:
    """`DONA_*` entries of Streamlit's secrets.toml act as environment variables (the
    environment wins), so a hosted deployment can keep its database URL or API key there."""
    try:
        secrets = {k: v for k, v in st.secrets.items() if k.startswith("DONA_")}
    except Exception:  # no secrets.toml: nothing to apply
        return
    for key, value in secrets.items():
        os.environ.setdefault(key, str(value))


SHOPPER_TROUBLE = (
    "The shop's assistant is not available right now. Please try again in a little while."
)


def shopper_message(exc: DonaError) -> str:
    """What a shopper may read of an error. Configuration and damaged-index errors are the
    operator's to fix: a signed-in merchant reads them (they name the setting or file,
    never a password), a shopper gets one plain sentence and the log gets the rest."""
    if not isinstance(exc, ConfigError | IndexIntegrityError):
        return str(exc)
    log.error("a DONA page cannot run: %s", exc)
    merchant = isinstance(st.session_state.get(MERCHANT_KEY), Merchant)
    return str(exc) if merchant else SHOPPER_TROUBLE


def run_guarded(page: Callable[[], None]) -> None:
    """A user's mistake shows its sentence (`shopper_message`); a bug is logged and shown
    as one sentence."""
    try:
        page()
    except DonaError as exc:
        st.error(shopper_message(exc))
    except Exception:  # never a traceback in front of a shopper
        log.exception("a DONA page failed")
        st.error("Something went wrong on our side. Please try again in a moment.")


@st.cache_resource(show_spinner="Starting DONA…")
def load_dona(data_dir: str, database_url: str) -> Dona:
    """One Dona per data directory and database (the arguments are the cache key)."""
    return Dona(get_settings())


def current_dona() -> Dona:
    settings = get_settings()
    return load_dona(str(settings.data_dir), settings.resolved_database_url)


MERCHANT_KEY = "merchant"
MERCHANT_SEEN_KEY = "merchant_seen"  # time of the merchant's last page run
SIGNED_OUT_KEY = "sign_in_notice"  # why the session ended, for the next page to say


def client_address() -> str | None:
    """Where a sign-in comes from, for the per-client limit: the connection's address,
    else (Streamlit reports none for local connections, e.g. behind a proxy on the same
    host) the address the nearest proxy appended to X-Forwarded-For."""
    try:
        address = st.context.ip_address
        forwarded = st.context.headers.get("X-Forwarded-For")
    except Exception:  # no browser connection (scripts)
        return None
    if isinstance(address, str) and address:
        return address[:100]
    if isinstance(forwarded, str):
        return forwarded.split(",")[-1].strip()[:100] or None
    return None


def start_merchant_session(merchant: Merchant) -> None:
    st.session_state[MERCHANT_KEY] = merchant
    st.session_state[MERCHANT_SEEN_KEY] = time.time()


def signed_in_merchant() -> Merchant | None:
    """The session's merchant, checked on every run: an idle session, a removed account
    or a changed password signs the session out (`Dona.merchant_session`)."""
    merchant = st.session_state.get(MERCHANT_KEY)
    if not isinstance(merchant, Merchant):
        return None
    seen = st.session_state.get(MERCHANT_SEEN_KEY)
    now = time.time()
    try:
        merchant = current_dona().merchant_session(
            merchant, idle_s=now - seen if isinstance(seen, int | float) else None
        )
    except SignedOutError as exc:
        sign_out()
        st.session_state[SIGNED_OUT_KEY] = str(exc)
        st.toast(str(exc))
        return None
    except Exception:  # the database is unreachable: no merchant page, but no sign-out
        log.exception("cannot check the merchant's session")
        return None
    st.session_state[MERCHANT_KEY] = merchant
    st.session_state[MERCHANT_SEEN_KEY] = now
    return merchant


def require_merchant() -> Merchant:
    """Merchant pages are only registered after sign-in; this guards them again, so a page
    reached any other way shows nothing but a sign-in hint."""
    merchant = signed_in_merchant()
    if merchant is None:
        notice = st.session_state.pop(SIGNED_OUT_KEY, None)
        st.warning(f"{notice[:1].upper()}{notice[1:]}." if notice else
                   "This page is for merchants. Sign in first.")  # fmt: skip
        st.stop()
    with st.sidebar:
        st.caption(f"Signed in as {merchant.username}")
        if st.button("Sign out", key="sign_out"):
            sign_out()
            st.rerun()
    return merchant


def sign_out() -> None:
    st.session_state.pop(MERCHANT_KEY, None)
    for key in [k for k in st.session_state if str(k).startswith("merchant_")]:
        del st.session_state[key]


def live_catalogs(dona: Dona) -> list[str]:
    return [c.name for c in dona.catalogs() if c.version is not None]


def pick_catalog(dona: Dona, catalogs: list[str]) -> str:
    """A selector in the sidebar when there are several catalogs."""
    catalog = catalogs[0]
    if len(catalogs) > 1:
        default = dona.settings.catalog
        index = catalogs.index(default) if default in catalogs else 0
        catalog = st.selectbox("Catalog", catalogs, index=index, key="catalog")
    with st.spinner("Loading the catalog…"):
        dona.served(catalog)  # load and verify the index once, behind a spinner
    return catalog


def key_specs(product: Product, limit: int = 3) -> str:
    return " · ".join(snippet(f"{k}: {v}", 60) for k, v in shopper_specs(product.attributes, limit))


def product_card(product: Product, slot: str | int, note: str | None = None) -> None:
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
        if note:
            st.caption(note)
        specs = key_specs(product)
        if specs:
            with st.container(key=f"dona-specs-{slot}"):
                st.text(specs)
        if product.description:
            with st.container(key=f"dona-desc-{slot}"):
                st.text(snippet(product.description, 200))
        if safe_http_url(product.url):  # only http(s) links, never javascript: etc.
            st.link_button("View product", product.url.strip())


def product_grid(products: list[Product], prefix: str = "", notes: list[str | None] | None = None):
    for start in range(0, len(products), COLUMNS):
        row = products[start : start + COLUMNS]
        for offset, (column, product) in enumerate(zip(st.columns(COLUMNS), row, strict=False)):
            with column:
                index = start + offset
                note = notes[index] if notes else None
                product_card(product, f"{prefix}{index}", note)
