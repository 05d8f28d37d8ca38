"""Price formatting, description snippets and product image HTML (dona/formatting.py)."""

from __future__ import annotations

import base64

import pytest

from dona.formatting import (
    PLACEHOLDER_IMAGE,
    PRICE_ON_REQUEST,
    format_price,
    product_image_css,
    product_image_html,
    safe_http_url,
    snippet,
)


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        (1299.0, "USD", "$1,299.00"),
        (0.5, "USD", "$0.50"),
        (12.95, "EUR", "€12.95"),
        (1234567.891, "EUR", "€1,234,567.89"),
        (7.0, "GBP", "£7.00"),
        (1299.0, "JPY", "¥1,299"),  # no minor unit
        (12.95, "CHF", "12.95 CHF"),
        (12.95, "XYZ", "12.95 XYZ"),  # unknown code: shown after the amount
        (1.5, "KWD", "1.500 KWD"),  # three decimals
        (12.95, "usd", "$12.95"),
        (12.95, None, "12.95"),
        (0.0, "USD", "$0.00"),
    ],
)
def test_format_price(amount, currency, expected):
    assert format_price(amount, currency) == expected


@pytest.mark.parametrize("currency", ["USD", "JPY", None])
def test_format_price_none_is_price_on_request(currency):
    assert format_price(None, currency) == PRICE_ON_REQUEST == "Price on request"


def test_format_price_not_a_number_is_price_on_request():
    assert format_price(float("nan"), "USD") == "Price on request"


def test_snippet_short_text_is_unchanged_but_tidied():
    assert snippet("  A  small\n speaker. ") == "A small speaker."
    assert snippet(None) == ""
    assert snippet("") == ""


def test_snippet_cuts_at_a_word_boundary_with_ellipsis():
    text = "word " * 100
    out = snippet(text, 200)
    assert len(out) <= 200
    assert out.endswith("word…")
    assert "  " not in out


def test_snippet_exact_limit_is_kept_whole():
    text = "x" * 200
    assert snippet(text, 200) == text


def test_snippet_long_word_is_cut_hard():
    out = snippet("y" * 500, 200)
    assert out == "y" * 199 + "…"


def test_snippet_drops_trailing_punctuation_before_ellipsis():
    text = "alpha, " * 60
    out = snippet(text, 50)
    assert out.endswith("alpha…")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://img.example/a.jpg", "https://img.example/a.jpg"),
        (" HTTP://img.example/a.jpg ", "HTTP://img.example/a.jpg"),
        ("javascript:alert(1)", None),
        ("data:image/svg+xml;base64,AAAA", None),
        ("/images/a.jpg", None),
        ("//evil.example/a.jpg", None),
        ("https:///nohost", None),
        ("", None),
        (None, None),
    ],
)
def test_safe_http_url(url, expected):
    assert safe_http_url(url) == expected


def test_image_html_escapes_the_url():
    out = product_image_html('https://img.example/a.jpg" onload="alert(1)')
    assert 'src="https://img.example/a.jpg&quot; onload=&quot;alert(1)"' in out
    assert 'onload="' not in out


def test_image_html_uses_the_placeholder_without_a_usable_url():
    for url in (None, "", "javascript:alert(1)", "/relative.png"):
        out = product_image_html(url)
        assert f'src="{PLACEHOLDER_IMAGE}"' in out
        assert "javascript" not in out


def test_image_html_falls_back_to_the_placeholder_on_error():
    out = product_image_html("https://img.example/missing.jpg")
    assert "onerror=\"this.onerror=null;this.src='data:image/svg+xml;base64," in out


def test_placeholder_is_a_quote_free_svg_data_uri():
    assert PLACEHOLDER_IMAGE.startswith("data:image/svg+xml;base64,")
    payload = PLACEHOLDER_IMAGE.split(",", 1)[1]
    assert not set(payload) & set("'\"<> ")
    assert base64.b64decode(payload).startswith(b"<svg")


def test_image_css_covers_broken_images_with_the_placeholder():
    css = product_image_css("dona-img", height_px=150)
    assert ".dona-img { position: relative; height: 150px;" in css
    assert ".dona-img img::after { content: ''; position: absolute; inset: 0; " in css
    assert f"url({PLACEHOLDER_IMAGE})" in css
    assert "\n\n" not in css and not css.endswith("\n")  # safe inside a Markdown <style> block


def test_shopper_specs_leave_out_logistics_and_media():
    from dona.formatting import cite_as_numbers, shopper_specs, spec_label

    attributes = {
        "name": "80",
        "ean": ["0882780756328"],
        "img_high": "http://images.example/1.jpg",
        "attr_t_type": "Original",
        "attr_n_package_weight": "300 g",
        "attr_t_dimensions__wxdxh_": "10 x 2 x 3 cm",
        "attr_t_compatibility": ["DesignJet 1050C", "DesignJet 1055CM"],
        "attr_t_storage_temperature__t_t_": "-40 - 60 °C",
        "manual": "https://example.com/manual.pdf",
    }
    assert shopper_specs(attributes) == [
        ("type", "Original"),
        ("dimensions (wxdxh)", "10 x 2 x 3 cm"),
        ("compatibility", "DesignJet 1050C, DesignJet 1055CM"),
    ]
    assert shopper_specs(attributes, limit=1) == [("type", "Original")]
    assert spec_label("battery_life") == "battery life"
    assert cite_as_numbers("Take [a-1] or [b-2].", ["b-2", "a-1"]) == "Take [2] or [1]."


_OLD_UNIT_RE = r"__([a-z0-9_]+?)_*$"  # the cubic regex spec_label replaced


def _old_spec_label(key: str) -> str:
    import re

    key = re.sub(r"^attr_[a-z]_", "", key.strip())
    key = re.sub(_OLD_UNIT_RE, r" (\1)", key)
    return key.replace("_", " ").strip()


def test_spec_label_matches_the_regex_it_replaced():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from dona.formatting import spec_label

    @settings(derandomize=True, max_examples=400, deadline=None, database=None)
    @given(
        st.lists(
            st.sampled_from(["a", "z", "1", "_", "__", "attr_t_", "A", "!", " ", "\n", "é"]),
            max_size=16,
        ).map("".join)  # fmt: skip
    )
    def same(key):
        assert spec_label(key) == _old_spec_label(key)

    same()
    assert spec_label("attr_t_dimensions__wxdxh_") == "dimensions (wxdxh)"
    assert spec_label("attr_n_weight__g___") == "weight (g)"


def test_long_attribute_keys_are_bounded_and_never_shown():
    """A 1,602-character key cost 3 s per card per render (cubic regex, GIL held)."""
    from dona.formatting import MAX_SPEC_KEY_CHARS, shopper_specs, spec_label

    hostile = "size" + "_" * 1600 + "!"
    label = spec_label(hostile)
    assert len(label) <= MAX_SPEC_KEY_CHARS + 3  # only the first 256 characters are read
    assert shopper_specs({hostile: "x", "colour": "red"}) == [("colour", "red")]
