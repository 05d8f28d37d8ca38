import codecs
import gzip
import json

import pytest

from dona.catalog import ParseOptions, map_columns, parse_catalog, preview_rows
from dona.catalog.parse import parse_price, parse_stock
from dona.errors import CatalogFileError, CatalogValidationError

CSV = b"id,title,brand,price,currency,stock\n1,Speaker,Acme,12.95,EUR,3\n2,Cable,Bolt,,USD,0\n"


def test_csv_basic():
    result = parse_catalog(CSV, "c.csv")
    assert result.problems == []
    a, b = result.products
    assert (a.id, a.title, a.brand, a.price_minor, a.currency, a.stock) == (
        "1",
        "Speaker",
        "Acme",
        1295,
        "EUR",
        3,
    )
    assert a.price == 12.95
    assert b.price_minor is None and b.stock == 0


def test_json_array_jsonl_and_gzip_agree():
    items = [{"id": 1, "name": "Speaker", "vendor": "Acme", "price": 9.5}]
    as_array = parse_catalog(json.dumps(items).encode(), "c.json")
    as_lines = parse_catalog(b"\n".join(json.dumps(i).encode() for i in items), "c.jsonl")
    gzipped = parse_catalog(gzip.compress(json.dumps(items).encode()), "c.json.gz")
    wrapped = parse_catalog(json.dumps({"products": items}).encode(), None)
    for result in (as_array, as_lines, gzipped, wrapped):
        (p,) = result.products
        assert (p.id, p.title, p.brand, p.price_minor) == ("1", "Speaker", "Acme", 950)


def test_format_sniffed_without_extension():
    assert parse_catalog(CSV, None).format == "csv"
    assert (
        parse_catalog(b'{"id": 1, "title": "a"}\n{"id": 2, "title": "b"}', None).format == "jsonl"
    )
    assert parse_catalog(b'[{"id": 1, "title": "a"}]', None).format == "json"


def test_bom_and_utf16_are_read():
    utf8_bom = codecs.BOM_UTF8 + "id,title\n1,Café crème\n".encode()
    assert parse_catalog(utf8_bom, "c.csv").products[0].title == "Café crème"
    utf16 = "id\ttitle\n1\tMünster\n".encode("utf-16")
    assert parse_catalog(utf16, "c.csv").products[0].title == "Münster"


def test_wrong_encoding_says_how_to_fix():
    with pytest.raises(CatalogFileError, match=r"not UTF-8.*line 2.*UTF-8"):
        parse_catalog("id,title\n1,Caf\xe9\n".encode("latin-1"), "c.csv")


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "empty"),
        (b"   \n\n", "empty"),
        (b"id,title\n", "no products"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        (b"hello world\nthis is a letter\n", "does not look like a product catalog"),
        (b"sku,colour\n1,red\n", "no column for title"),
        (b'{"id": 1, "title": ', "cannot be parsed"),
        (b'{"a": [], "b": []}', "not a list of products"),
        (b"\x1f\x8bnot really gzip", "gzipped"),
    ],
)
def test_unusable_files(data, message):
    with pytest.raises(CatalogFileError, match=message):
        parse_catalog(data, None)


def test_every_bad_row_reported_with_row_number_and_reason():
    data = (
        "id,title,price\n"
        "1,Good,1.00\n"
        ",No id,1.00\n"  # line 3
        "3,,1.00\n"  # line 4
        "1,Duplicate,1.00\n"  # line 5
        "5,Bad price,abc\n"  # line 6
        f"6,{'x' * 600},1\n"  # line 7
        "7,Negative,-3\n"  # line 8
        "8,Too,many,fields,here\n"  # line 9
    ).encode()
    result = parse_catalog(data, "c.csv")
    assert [p.id for p in result.products] == ["1"]
    reasons = {p.row: p.reason for p in result.problems}
    assert reasons[3] == "missing id"
    assert reasons[4] == "missing title"
    assert reasons[5].startswith("duplicate id (first seen on row 2)")
    assert "unparseable price 'abc'" in reasons[6]
    assert "title is 600 characters long" in reasons[7]
    assert "negative price" in reasons[8]
    assert "fields but the header has 3" in reasons[9]
    with pytest.raises(CatalogValidationError) as info:
        result.raise_if_invalid()
    assert "7 of 8 rows are invalid" in str(info.value)
    assert "row 3: missing id" in str(info.value)
    assert "--skip-bad-rows" in str(info.value)


def test_jsonl_bad_lines_use_line_numbers():
    data = b'{"id": "a", "title": "A"}\n\n{"id": "b", "title":\n[1, 2]\n'
    result = parse_catalog(data, "c.jsonl")
    assert [p.id for p in result.products] == ["a"]
    assert [(p.row, p.reason.split(" (")[0]) for p in result.problems] == [
        (3, "invalid JSON"),
        (4, "is not a JSON object"),
    ]


def test_jsonl_keeps_unicode_line_separators_inside_strings():
    data = json.dumps({"id": "1", "title": "A\u2028B"}, ensure_ascii=False).encode()
    assert parse_catalog(data, "c.jsonl").products[0].title == "A B"


def test_absurd_description_rejected():
    data = json.dumps([{"id": 1, "title": "x", "description": "y" * 30_000}]).encode()
    (problem,) = parse_catalog(data, "c.json").problems
    assert problem.row == 1 and "description is 30000 characters" in problem.reason


def test_column_variants_and_unknown_columns_become_attributes():
    mapping = map_columns(["Product Name", "Supplier", "Product_ID", "Body (HTML)", "Image Src"])
    assert mapping == {
        "id": "Product_ID",
        "title": "Product Name",
        "brand": "Supplier",
        "description": "Body (HTML)",
        "image_url": "Image Src",
    }
    data = b"sku,product_name,vendor,colour\nA1,Lamp,Lumo,red\n"
    (p,) = parse_catalog(data, "c.csv").products
    assert (p.id, p.title, p.brand, p.attributes) == ("A1", "Lamp", "Lumo", {"colour": "red"})


def test_title_beats_name_when_both_present():
    data = json.dumps([{"id": 1, "name": "80", "title": "HP 80 Original Cyan"}]).encode()
    (p,) = parse_catalog(data, "c.json").products
    assert p.title == "HP 80 Original Cyan" and p.attributes == {"name": "80"}


def test_shopify_export_merges_variant_rows():
    data = (
        b"Handle,Title,Body (HTML),Vendor,Type,Variant SKU,Variant Price,"
        b"Variant Inventory Qty,Image Src\n"
        b"tee,Cool Tee,<p>Soft <b>cotton</b></p>,Acme,Shirts,T-S,25.00,3,https://x/t.jpg\n"
        b"tee,,,,,T-M,20.00,4,\n"
        b"mug,Mug,<p>Big</p>,Acme,Kitchen,M-1,9.50,0,\n"
    )
    result = parse_catalog(data, "products_export.csv")
    assert result.format == "csv (shopify)" and result.problems == []
    tee, mug = result.products
    assert (tee.id, tee.title, tee.description, tee.category) == (
        "tee",
        "Cool Tee",
        "Soft cotton",
        "Shirts",
    )
    assert tee.price_minor == 2000 and tee.stock == 7 and tee.image_url == "https://x/t.jpg"
    assert mug.stock == 0


@pytest.mark.parametrize(
    "raw, currency, expected",
    [
        ("12.95", "USD", (1295, None)),
        ("$1,299.00", "USD", (129900, "USD")),
        ("12,95 €", "USD", (1295, "EUR")),
        ("1.299,00", "EUR", (129900, None)),
        (1299, "JPY", (1299, None)),
        ("EUR 5", "EUR", (500, None)),
        ("", "USD", (None, None)),
    ],
)
def test_price_formats(raw, currency, expected):
    assert parse_price(raw, currency) == expected


@pytest.mark.parametrize("raw", ["abc", "1.2.3x", "nan", "-1", "1e20", True])
def test_bad_prices(raw):
    with pytest.raises(ValueError):
        parse_price(raw, "USD")


def test_prices_in_minor_units_option():
    data = b'{"id": 1, "title": "x", "price": 12595}\n'
    (p,) = parse_catalog(data, "c.jsonl", ParseOptions(prices_in_minor_units=True)).products
    assert p.price == 125.95


@pytest.mark.parametrize(
    "raw, expected", [("3", 3), ("In stock", 1), ("out of stock", 0), (False, 0), ("", None)]
)
def test_stock_values(raw, expected):
    assert parse_stock(raw) == expected


def test_unsafe_image_urls_dropped():
    data = json.dumps([{"id": 1, "title": "x", "image_url": "javascript:alert(1)"}]).encode()
    assert parse_catalog(data, "c.json").products[0].image_url is None


def test_size_limit_applies_after_gunzip():
    big = gzip.compress(b"id,title\n" + b"1,x\n" * 100_000)
    with pytest.raises(CatalogFileError, match="limit"):
        parse_catalog(big, "c.csv.gz", ParseOptions(max_bytes=10_000))


def test_html_is_reduced_to_text_and_entities_cannot_smuggle_tags():
    data = json.dumps(
        [
            {
                "id": 1,
                "title": "&lt;script&gt;alert(1)&lt;/script&gt; Lamp",
                "description": "<p>A<br>B</p>",
            },
            {"id": 2, "title": "Cable < 2 m & <b adapter", "description": "size 1 < 5 > 3"},
        ]
    ).encode()
    first, second = parse_catalog(data, "c.json").products
    assert first.title == "alert(1) Lamp" and first.description == "A B"
    assert second.title == "Cable < 2 m & <b adapter" and second.description == "size 1 < 5 > 3"


def _workbook(rows: list[list]) -> bytes:
    import io

    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_xlsx_first_sheet_with_excel_row_numbers():
    from datetime import date

    data = _workbook(
        [
            ["SKU", "Product Name", "Vendor", "Price", "Stock", "Added"],
            [1001, "Red Kettle", "Acme", 19.5, 4, date(2026, 1, 2)],
            [None, None, None, None, None, None],  # a blank row: layout, not data
            [1002, None, "Acme", 7, 1, None],
            [1003.0, "Steel Toaster", "Bolt", "35,00 €", 0, None],
        ]
    )
    result = parse_catalog(data, "shop.xlsx")
    assert result.format == "xlsx" and result.total_rows == 3
    assert [(p.id, p.title, p.brand, p.price) for p in result.products] == [
        ("1001", "Red Kettle", "Acme", 19.5),
        ("1003", "Steel Toaster", "Bolt", 35.0),
    ]
    assert result.products[0].attributes == {"Added": "2026-01-02"}
    assert result.products[1].currency == "EUR" and result.products[1].stock == 0
    # the row number is the one the merchant sees in Excel
    assert [(p.row, p.reason) for p in result.problems] == [(4, "missing title")]
    columns, sample, fmt = preview_rows(data, "shop.xlsx")
    assert fmt == "xlsx" and columns[:2] == ["SKU", "Product Name"] and len(sample) == 3


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"PK\x03\x04" + b"xl/" + b"\x00" * 100, "the spreadsheet cannot be read"),
        (b"\xd0\xcf\x11\xe0" + b"\x00" * 100, "old .xls spreadsheet"),
    ],
)
def test_unreadable_spreadsheets_say_what_to_do(data, message):
    with pytest.raises(CatalogFileError, match=message):
        parse_catalog(data, "shop.xlsx")


def test_empty_workbook_is_refused():
    with pytest.raises(CatalogFileError, match="the first sheet is empty"):
        parse_catalog(_workbook([]), "empty.xlsx")
