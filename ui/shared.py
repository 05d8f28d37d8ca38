"""What the DONA pages share: the cached service, the session's language, the catalog
picker, product cards.

Catalog text (titles, brands, descriptions, specs) and model output are data: they are
only ever shown with `st.text`, which renders neither Markdown nor HTML. The one raw HTML
block per card is the product image, built from an escaped http(s) URL.

Every word of the interface goes through `tr(key)` (dona/i18n.py) in the session's
language, chosen once per session: DONA_LANGUAGE, or with "auto" the browser's.
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
    PRICE_ON_REQUEST,
    format_price,
    product_image_css,
    product_image_html,
    safe_http_url,
    shopper_specs,
    snippet,
)
from dona.i18n import Language, localized, resolve_language, t
from dona.service import Dona
from dona.store.accounts import Merchant

log = logging.getLogger("dona.ui")

COLUMNS = 3
LANGUAGE_KEY = "language"
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


def browser_language() -> str | None:
    """The browser's language: navigator.language, else the Accept-Language header."""
    try:
        locale = st.context.locale
        header = st.context.headers.get("Accept-Language")
    except Exception:  # no browser connection (scripts)
        return None
    if isinstance(locale, str) and locale:
        return locale
    return header if isinstance(header, str) else None


def language() -> Language:
    """The session's language, decided on its first run and kept."""
    chosen = st.session_state.get(LANGUAGE_KEY)
    if chosen in ("en", "es"):
        return chosen
    try:
        setting = get_settings().language
    except ConfigError:  # a bad DONA_* value: its error is shown, in the browser's language
        setting = os.environ.get("DONA_LANGUAGE", "auto")
    chosen = st.session_state[LANGUAGE_KEY] = resolve_language(setting, browser_language())
    return chosen


def tr(key: str, **values: object) -> str:
    """An interface message in the session's language (`dona.i18n.t`)."""
    return t(key, language(), **values)


def shopper_message(exc: DonaError) -> str:
    """What a shopper may read of an error, in the session's language. Configuration and
    damaged-index errors are the operator's to fix: a signed-in merchant reads them (they
    name the setting or file, never a password), a shopper gets one plain sentence and
    the log gets the rest."""
    if not isinstance(exc, ConfigError | IndexIntegrityError):
        return localized(exc, language())
    log.error("a DONA page cannot run: %s", exc)
    merchant = isinstance(st.session_state.get(MERCHANT_KEY), Merchant)
    return localized(exc, language()) if merchant else tr("app.unavailable")


def run_guarded(page: Callable[[], None]) -> None:
    """A user's mistake shows its sentence (`shopper_message`); a bug is logged and shown
    as one sentence."""
    try:
        page()
    except DonaError as exc:
        st.error(shopper_message(exc))
    except Exception:  # never a traceback in front of a shopper
        log.exception("a DONA page failed")
        st.error(tr("app.bug"))


@st.cache_resource(show_spinner=False)
def load_dona(data_dir: str, database_url: str) -> Dona:
    """One Dona per data directory and database (the arguments are the cache key)."""
    return Dona(get_settings())


_STARTED: set[tuple[str, str]] = set()  # what this process has loaded: no spinner needed


def current_dona() -> Dona:
    settings = get_settings()
    key = (str(settings.data_dir), settings.resolved_database_url)
    if key in _STARTED:
        return load_dona(*key)
    with st.spinner(tr("app.starting")):  # shown only when loading takes a while
        dona = load_dona(*key)
    _STARTED.add(key)
    return dona


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
        notice = st.session_state[SIGNED_OUT_KEY] = localized(exc, language())
        st.toast(notice)
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
                   tr("app.merchants_only"))  # fmt: skip
        st.stop()
    with st.sidebar:
        st.caption(tr("app.signed_in_as", username=merchant.username))
        if st.button(tr("app.sign_out"), key="sign_out"):
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
        catalog = st.selectbox(tr("app.catalog"), catalogs, index=index, key="catalog")
    with st.spinner(tr("app.loading_catalog")):
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
            price = format_price(product.price, product.currency)
            st.text(tr("card.price_on_request") if price == PRICE_ON_REQUEST else price)
        if product.stock == 0:
            st.caption(tr("card.out_of_stock"))
        if note:  # built from catalog words: text, never Markdown (no links, no images)
            with st.container(key=f"dona-why-{slot}"):
                st.text(note)
        specs = key_specs(product)
        if specs:
            with st.container(key=f"dona-specs-{slot}"):
                st.text(specs)
        if product.description:
            with st.container(key=f"dona-desc-{slot}"):
                st.text(snippet(product.description, 200))
        if safe_http_url(product.url):  # only http(s) links, never javascript: etc.
            st.link_button(tr("card.view"), product.url.strip())


def product_grid(products: list[Product], prefix: str = "", notes: list[str | None] | None = None):
    for start in range(0, len(products), COLUMNS):
        row = products[start : start + COLUMNS]
        for offset, (column, product) in enumerate(zip(st.columns(COLUMNS), row, strict=False)):
            with column:
                index = start + offset
                note = notes[index] if notes else None
                product_card(product, f"{prefix}{index}", note)
