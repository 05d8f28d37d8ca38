"""Property-based fuzzing of the catalog parser (Hypothesis, derandomized: the same
examples on every run, a small budget).

Whatever bytes arrive, `parse_catalog` and `preview_rows` either return or raise a
`DonaError` (whose message the merchant reads): never a bare ValueError, RecursionError,
UnicodeError or anything else. And the linear text helpers give exactly what the regexes
they replaced gave.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dona.catalog import ParseOptions, ParseResult, parse_catalog, preview_rows
from dona.catalog.parse import strip_tags
from dona.errors import DonaError

FUZZ = settings(
    derandomize=True,
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

KEYS = ["id", "title", "name", "sku", "price", "price_cents", "currency", "stock", "brand",
        "description", "image_url", "url", "category", "Handle", "Title", "Variant Price",
        "Variant Inventory Qty", "x", "attr_t_size__cm_"]  # fmt: skip
FRAGMENTS = [",", ";", "\t", "|", "\n", "\r\n", "\r", '"', "'", "<", ">", "</b>", "<!--", "-->",
             "&lt;", "&amp;", "[", "]", "{", "}", ":", "\\", "\ufeff", "\u2028", "\x00", "id",
             "title", "1", "1.5", "-3", "1e999", "NaN", "$", "€", "9" * 30, " "]  # fmt: skip

# values that broke parsers before: infinities, NaN, huge and negative numbers, booleans
NASTY = [float("inf"), float("-inf"), float("nan"), 1e308, 10**100, -1, True, False, "", " ",
         "9" * 80, "1e999", "-0", "<b>", "<!--", "&#x0;", "\x00", "\ud800"]  # fmt: skip
scalars = st.one_of(
    st.sampled_from(NASTY),
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(FRAGMENTS),
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), inner, max_size=6)
    ),
    max_leaves=25,
)
products = st.fixed_dictionaries(
    {"id": scalars, "title": scalars},
    optional={
        key: scalars if key in ("price", "price_cents", "stock", "currency") else json_values
        for key in KEYS
        if key not in ("id", "title")
    },
)


def as_csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode("utf-8", "surrogatepass")


cells = st.sampled_from(FRAGMENTS) | st.text(max_size=8)
# (bytes, a fitting file name or none): the name often matches, sometimes not
files = st.one_of(
    st.tuples(st.binary(max_size=400), st.sampled_from([None, "c.csv", "c.json", "c.xlsx"])),
    st.tuples(
        st.lists(cells, max_size=60).map(lambda p: "".join(p).encode("utf-8", "surrogatepass")),
        st.sampled_from([None, "c.csv", "c.txt", "c.json", "c.jsonl"]),
    ),
    st.tuples(json_values.map(lambda v: json.dumps(v).encode()), st.just("c.json")),
    st.tuples(
        st.lists(products, min_size=1, max_size=6).map(lambda items: json.dumps(items).encode()),
        st.sampled_from([None, "c.json"]),
    ),
    st.tuples(
        st.lists(products, max_size=6).map(lambda i: json.dumps({"products": i}).encode()),
        st.sampled_from([None, "c.json"]),
    ),
    st.tuples(
        st.lists(products | json_values, min_size=1, max_size=6).map(
            lambda items: b"\n".join(json.dumps(i).encode() for i in items)
        ),
        st.sampled_from([None, "c.jsonl", "c.json"]),
    ),
    st.tuples(
        st.lists(st.lists(cells, min_size=1, max_size=8), min_size=1, max_size=6).map(
            lambda rows: as_csv([["id", "title", "price", "stock", "currency", "brand"], *rows])
        ),
        st.sampled_from([None, "c.csv"]),
    ),
    st.tuples(
        st.lists(st.lists(cells, min_size=1, max_size=9), min_size=1, max_size=6).map(
            lambda rows: as_csv(
                [["Handle", "Title", "Variant Price", "Variant Inventory Qty", "Vendor"], *rows]
            )
        ),
        st.sampled_from([None, "products_export.csv"]),
    ),
)
options = st.builds(
    ParseOptions,
    default_currency=st.sampled_from(["USD", "EUR", "JPY", "usd", "12"]),
    prices_in_minor_units=st.booleans(),
    max_bytes=st.sampled_from([200 * 1024 * 1024] * 4 + [300]),
)


def _outcome(call):
    try:
        return call()
    except DonaError as exc:
        assert str(exc)  # a sentence for the merchant, never empty
        return exc


@FUZZ
@given(file=files, gzipped=st.booleans(), opts=options)
def test_the_parser_returns_or_raises_a_dona_error(file, gzipped, opts):
    data, name = file
    if gzipped:
        data = gzip.compress(data)
        name = name and name + ".gz"
    result = _outcome(lambda: parse_catalog(data, name, opts))
    if isinstance(result, ParseResult):
        # every row read is either a product or a problem, counted once
        assert len(result.products) + result.problem_count == result.total_rows
        assert len(result.problems) <= result.problem_count
    _outcome(lambda: preview_rows(data, name, max_bytes=opts.max_bytes))


@FUZZ
@given(
    items=st.lists(products, min_size=1, max_size=5),
    shape=st.sampled_from(["json", "jsonl", "wrapped", "csv"]),
    minor=st.booleans(),
)
def test_every_product_row_is_a_product_or_a_problem(items, shape, minor):
    """Rows that parse as files, with hostile values in every product field."""
    if shape == "csv":
        data = as_csv([KEYS, *([str(item.get(k, "")) for k in KEYS] for item in items)])
    elif shape == "jsonl":
        data = b"\n".join(json.dumps(item).encode() for item in items)
    else:
        data = json.dumps({"products": items} if shape == "wrapped" else items).encode()
    result = _outcome(
        lambda: parse_catalog(data, f"c.{shape}", ParseOptions(prices_in_minor_units=minor))
    )
    if isinstance(result, ParseResult):
        assert len(result.products) + result.problem_count == result.total_rows


@settings(FUZZ, max_examples=60)  # openpyxl is slow to open even a small workbook
@given(position=st.integers(min_value=0), value=st.integers(min_value=0, max_value=255))
def test_a_damaged_workbook_is_a_dona_error(position, value):
    import openpyxl

    book = openpyxl.Workbook()
    book.active.append(["id", "title"])
    book.active.append([1, "Lamp"])
    out = io.BytesIO()
    book.save(out)
    data = bytearray(out.getvalue())
    data[position % len(data)] = value
    _outcome(lambda: parse_catalog(bytes(data), "shop.xlsx"))


_OLD_TAG_RE = re.compile(r"<(?:/?[A-Za-z][^<>]*|!--.*?--)>", re.S)


@FUZZ
@given(st.lists(st.sampled_from(["<", ">", "/", "!", "-", "--", "<!--", "-->", "a", "Z", " ",
                                 "\n", "é", "<b", "</p>"]), max_size=30).map("".join))  # fmt: skip
def test_strip_tags_matches_the_regex_it_replaced(text):
    assert strip_tags(text) == _OLD_TAG_RE.sub(" ", text)
