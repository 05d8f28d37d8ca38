"""Presentation helpers shared by the UI (and anything else that shows products to people):
prices in the product's currency, short description snippets, and product images with a
placeholder. No Streamlit here, so all of it is unit-testable.

Catalog text is data, never markup: `product_image_html` is the only function that builds
HTML, and the only catalog value it uses (the image URL) is checked and escaped.
"""

from __future__ import annotations

import base64
import html
import math
import re

from dona.catalog.product import minor_unit_exponent

PRICE_ON_REQUEST = "Price on request"

# Currencies shown with a symbol in front ("$1,299.00"); every other ISO code goes after
# the amount ("12.95 CHF"), which is unambiguous and right for most of them.
CURRENCY_PREFIXES = {
    "USD": "$",
    "EUR": "€",
    "GBP": "£",
    "JPY": "¥",
    "INR": "₹",
    "KRW": "₩",
}

_SPACE_RE = re.compile(r"\s+")


def format_price(amount: float | None, currency: str | None) -> str:
    """`format_price(1299, "USD")` -> "$1,299.00"; "€12.95"; "¥1,299"; "12.95 CHF".

    Decimals follow the currency's minor unit (none for JPY). No currency: the bare number.
    """
    if amount is None or not math.isfinite(amount):
        return PRICE_ON_REQUEST
    code = (currency or "").strip().upper()
    decimals = minor_unit_exponent(code) if code else 2
    sign = "-" if amount < 0 else ""
    number = f"{abs(amount):,.{decimals}f}"
    if code in CURRENCY_PREFIXES:
        return f"{sign}{CURRENCY_PREFIXES[code]}{number}"
    if code:
        return f"{sign}{number} {code}"
    return f"{sign}{number}"


def snippet(text: str | None, limit: int = 200) -> str:
    """The start of a text, at most `limit` characters, cut at a word boundary with "…"."""
    if not text:
        return ""
    text = _SPACE_RE.sub(" ", text).strip()
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]  # leave room for the ellipsis
    space = cut.rfind(" ")
    if space >= limit // 2:  # only back up to a word boundary if it is not too far back
        cut = cut[:space]
    return cut.rstrip(" ,;:-–—.") + "…"


def safe_http_url(url: str | None) -> str | None:
    """The URL if it is an absolute http(s) URL we may put in an <img src>, else None."""
    if not url:
        return None
    url = url.strip()
    if not re.match(r"^https?://[^\s/]", url, re.IGNORECASE):
        return None
    return url


PLACEHOLDER_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="320" height="240" viewBox="0 0 320 240">'
    '<rect width="320" height="240" fill="#f1f3f6"/>'
    '<g fill="none" stroke="#aab2bf" stroke-width="6" stroke-linejoin="round">'
    '<rect x="110" y="70" width="100" height="80" rx="8"/>'
    '<path d="M118 142l28-30 22 22 14-14 20 22"/></g>'
    '<circle cx="190" cy="94" r="9" fill="#aab2bf"/>'
    '<text x="160" y="190" font-family="sans-serif" font-size="18" fill="#7b8494" '
    'text-anchor="middle">No image</text></svg>'
)
# base64, so the data URI contains no quotes and can sit inside an HTML attribute safely
PLACEHOLDER_IMAGE = "data:image/svg+xml;base64," + base64.b64encode(
    PLACEHOLDER_SVG.encode()
).decode("ascii")


def product_image_css(css_class: str = "dona-img", height_px: int = 180) -> str:
    """Style rules for `product_image_html`: a fixed-height box, the image scaled to fit.

    They also carry the load-failure fallback that works where `onerror` is stripped (as
    Streamlit's Markdown renderer does): browsers draw `img::after` only for an image that
    failed to load, so the placeholder covers the broken image.
    """
    return (
        f".{css_class} {{ position: relative; height: {height_px}px; border-radius: 6px; "
        "overflow: hidden; }\n"
        f".{css_class} img {{ position: absolute; inset: 0; width: 100%; height: 100%; "
        "object-fit: contain; }\n"
        f'.{css_class} img[src^="data:"] {{ background: #f1f3f6; }}\n'
        f".{css_class} img::after {{ content: ''; position: absolute; inset: 0; "
        f"background: #f1f3f6 url({PLACEHOLDER_IMAGE}) center / contain no-repeat; }}"
    )


def product_image_html(url: str | None, css_class: str = "dona-img") -> str:
    """An <img> for a product: its image when it has an http(s) URL, the placeholder
    when it has none or when the image fails to load (`onerror`, and the CSS fallback of
    `product_image_css` where event attributes are stripped)."""
    src = safe_http_url(url) or PLACEHOLDER_IMAGE
    fallback = f"this.onerror=null;this.src='{PLACEHOLDER_IMAGE}'"
    return (
        f'<div class="{html.escape(css_class, quote=True)}">'
        f'<img src="{html.escape(src, quote=True)}" alt="" loading="lazy" '
        f'referrerpolicy="no-referrer" onerror="{fallback}"></div>'
    )


def cite_as_numbers(text: str, product_ids: list[str]) -> str:
    """ "[sp-1]" -> "[1]": a citation becomes the number of the product card it refers to."""
    for number, pid in enumerate(product_ids, start=1):
        text = text.replace(f"[{pid}]", f"[{number}]")
    return text


# Attributes a shopper does not choose by (logistics, identifiers, media, dates): kept in
# the database, left out of cards and of what the language model reads.
_NOT_A_SPEC = re.compile(
    r"package|pallet|carton|storage|humidity|operating_temp|quantity_per|ean|gtin|upc|"
    r"\bsku|oem|img|image|url|date|^name$|country_of_origin|harmonized|warranty_text",
    re.I,
)


# Longer keys are not specs a shopper reads (the parser refuses column names over 256
# characters; this bounds the work for catalogs stored before that limit).
MAX_SPEC_KEY_CHARS = 256
_ATTR_PREFIX = re.compile(r"^attr_[a-z]_")
_UNIT_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_"


def spec_label(key: str) -> str:
    """ "attr_t_dimensions__wxdxh_" -> "dimensions (wxdxh)": catalog keys made readable.

    Linear in the key's length. (The regex ``__([a-z0-9_]+?)_*$`` it replaces was cubic:
    a 1,602-character key cost 3 s per card while holding the GIL.)"""
    key = _ATTR_PREFIX.sub("", key[:MAX_SPEC_KEY_CHARS].strip())
    # the unit: the first "__" inside the key's trailing run of [a-z0-9_], with at least
    # one character after it; trailing underscores are dropped (one is kept if all are)
    run_start = len(key.rstrip(_UNIT_CHARS))
    cut = key.find("__", run_start)
    if cut != -1 and cut + 2 < len(key):
        unit = key[cut + 2 :]
        key = f"{key[:cut]} ({unit.rstrip('_') or unit[0]})"
    return key.replace("_", " ").strip()


def shopper_specs(attributes: dict | None, limit: int = 6) -> list[tuple[str, str]]:
    """The first `limit` attributes a shopper chooses by, as (label, value) text."""
    out: list[tuple[str, str]] = []
    for key, value in (attributes or {}).items():
        if len(out) >= limit:
            break
        if not isinstance(key, str) or len(key) > MAX_SPEC_KEY_CHARS:
            continue  # bounded before any regex reads it
        if value in (None, "", [], {}) or isinstance(value, dict) or _NOT_A_SPEC.search(key):
            continue
        if isinstance(value, list | tuple):
            value = ", ".join(map(str, value))
        text = str(value).strip()
        if text.lower().startswith(("http://", "https://")):
            continue
        out.append((spec_label(key), text))
    return out
