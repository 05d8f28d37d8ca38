"""Hostile uploads (issue 12): every size is bounded before any regex or parser reads it,
memory follows the products kept (never the rows refused), and every refusal is a
`DonaError` whose message says what to fix.

Work is asserted as memory (tracemalloc peaks) or as what the code reads, never as time.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import tracemalloc
import zipfile

import pytest

from dona.catalog import ParseOptions, parse_catalog, preview_rows
from dona.catalog import parse as catalog_parse
from dona.errors import CatalogFileError, CatalogValidationError

MIB = 1024 * 1024


def peak_of(call) -> tuple[object, int]:
    """(what `call()` returned or raised, the peak bytes Python allocated during it)."""
    tracemalloc.start()
    try:
        try:
            outcome: object = call()
        except Exception as exc:  # the caller asserts on it
            outcome = exc
        return outcome, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# ---- sizes before regexes ------------------------------------------------------------


@pytest.mark.parametrize(
    "data, name",
    [
        (b"id,title," + b"_" * 1601 + b"!\n1,Lamp,x\n", "c.csv"),
        (json.dumps([{"id": 1, "title": "Lamp", "_" * 1601 + "!": "x"}]).encode(), "c.json"),
        (json.dumps({"id": 1, "title": "Lamp", "k" * 3000: "x"}).encode() + b"\n", "c.jsonl"),
    ],
)
def test_a_long_column_name_is_refused(data, name):
    """A 1,602-character column name used to reach the cards, where labelling it cost
    3 s per card per render."""
    with pytest.raises(CatalogFileError, match=r"column name is \d[\d,]* characters long.*256"):
        parse_catalog(data, name)


def test_too_many_columns_are_refused():
    header = ",".join(["id", "title", *(f"c{i}" for i in range(20_000))])
    with pytest.raises(CatalogFileError, match="more than 20,000 columns"):
        parse_catalog(f"{header}\n1,Lamp\n".encode(), "c.csv")
    keys = {f"k{i}": 1 for i in range(20_000)}
    with pytest.raises(CatalogFileError, match="more than 20,000 columns"):
        parse_catalog(json.dumps([{"id": 1, "title": "Lamp", **keys}]).encode(), "c.json")


def test_a_huge_field_is_refused_by_its_size_before_tags_are_stripped():
    """Old: the tag stripper ran first (quadratic: a 125 KiB title took 17.6 s), and a
    title of tags was reduced to nothing and reported as missing."""
    tags = "<b>" * 50_000
    comments = "<!--" * 32_000  # what made the old stripper quadratic
    data = json.dumps(
        [
            {"id": 1, "title": tags},
            {"id": 2, "title": comments},
            {"id": 3, "title": "Lamp", "description": comments * 2},
            {"id": 4, "title": "Lamp", "brand": "b" * 6000},
        ]
    ).encode()
    result = parse_catalog(data, "c.json")
    assert result.products == []
    assert [p.reason for p in result.problems] == [
        "title is 150000 characters long (limit 500)",
        "title is 128000 characters long (limit 500)",
        "description is 256000 characters long (limit 20000)",
        "brand is 6000 characters long (limit 1000)",
    ]


def test_markup_within_the_raw_allowance_is_still_cleaned():
    title = "<b>" + "Lamp" + "</b>" + "<br/>" * 300  # 1,500+ characters of markup
    (product,) = parse_catalog(json.dumps([{"id": 1, "title": title}]).encode(), "c.json").products
    assert product.title == "Lamp"


def test_csv_delimiter_is_sniffed_on_a_bounded_sample(monkeypatch):
    """Old: the whole first line went to csv.Sniffer, quadratic in it (32k chars: 3.1 s)."""
    seen: list[int] = []
    sniff = csv.Sniffer.sniff

    def measured(self, sample, delimiters=None):  # the real sniffer, its input recorded
        seen.append(len(sample))
        return sniff(self, sample, delimiters)

    monkeypatch.setattr(csv.Sniffer, "sniff", measured)
    header = "id;title;" + ";".join(f'"c{i}"' for i in range(6_000))  # a 32k-char first line
    result = parse_catalog(f"{header}\n1;Lamp\n".encode(), "c.csv")
    assert [p.title for p in result.products] == ["Lamp"]
    assert seen and max(seen) <= catalog_parse.SNIFF_CHARS
    # the semicolon is still found, so the columns are right
    assert result.mapped_columns == {"id": "id", "title": "title"}


def test_prices_and_stock_are_bounded_before_they_are_read():
    data = json.dumps(
        [
            {"id": 1, "title": "A", "price": "9" * 5000},
            {"id": 2, "title": "B", "stock": "9" * 5000},
            {"id": 3, "title": "C", "stock": 1e999},
            {"id": 4, "title": "D", "price_cents": "Infinity"},
        ]
    ).encode()
    reasons = [p.reason for p in parse_catalog(data, "c.json").problems]
    assert reasons[0].startswith("unparseable price") and "5,000 characters" in reasons[0]
    assert reasons[1].startswith("unreadable stock value")
    assert reasons[2].startswith("unreadable stock value")
    assert reasons[3].startswith("unparseable price")


def test_numbers_too_long_to_read_are_a_plain_error():
    """Old: a 5,000-digit integer raised ValueError out of the parser."""
    with pytest.raises(CatalogFileError, match="cannot be parsed.*line 1"):
        parse_catalog(b'[{"id": ' + b"1" * 5000 + b', "title": "a"}]', "c.json")
    result = parse_catalog(
        b'{"id": ' + b"1" * 5000 + b', "title": "a"}\n{"id": 2, "title": "b"}\n', "c.jsonl"
    )
    assert result.problems[0].row == 1 and "invalid JSON" in result.problems[0].reason


# ---- nesting ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data, name",
    [
        (b"[" * 100_000 + b"]" * 100_000, "c.json"),
        (b'[{"id": 1, "title": "a", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}]", "c.json"),
        (b'{"products": ' + b'{"a":' * 50_000 + b"1" + b"}" * 50_001, None),
    ],
)
def test_deeply_nested_json_is_a_plain_error(data, name):
    """Old: RecursionError escaped from json.loads."""
    with pytest.raises(CatalogFileError, match="nested too deeply"):
        parse_catalog(data, name)


def test_nesting_inside_a_product_is_bounded():
    deep = json.loads("[" * 40 + "]" * 40)
    data = json.dumps([{"id": 1, "title": "a", "x": deep}, {"id": 2, "title": "b"}]).encode()
    result = parse_catalog(data, "c.json")
    assert [p.id for p in result.products] == ["2"]
    assert result.problems[0].reason == "is nested more than 32 levels deep"
    lines = b'{"id": 1, "title": "a", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}\n"
    result = parse_catalog(lines + b'{"id": 2, "title": "b"}\n', "c.jsonl")
    assert result.problems[0].reason == "invalid JSON (nested too deeply)"


# ---- memory follows what is kept --------------------------------------------------------


def test_a_gzip_bomb_is_refused_in_bounded_memory():
    """Old: a 10 KiB .csv.gz of 10 MiB rows peaked at 735 MB before it was refused."""
    bomb = gzip.compress(b"id,title\n" + b"1,a\n" * (10 * MIB // 4), 9)
    assert len(bomb) < 11_000
    outcome, peak = peak_of(lambda: parse_catalog(bomb, "c.csv.gz"))
    assert isinstance(outcome, CatalogFileError)
    assert "100 times its gzipped size" in str(outcome) and "uncompressed" in str(outcome)
    assert peak < 2 * MIB


def test_a_json_gzip_bomb_is_refused_in_bounded_memory():
    """Old: a 174 KiB .json.gz grew the process by 1.58 GiB."""
    item = b'{"id":"1","title":"a"},'
    bomb = gzip.compress(b"[" + item * (40 * MIB // len(item)) + b'{"id":"1","title":"a"}]', 9)
    outcome, peak = peak_of(lambda: parse_catalog(bomb, "c.json.gz"))
    assert isinstance(outcome, CatalogFileError) and "gzipped size" in str(outcome)
    assert peak < 2 * MIB


def test_refused_rows_cost_no_memory_beyond_the_listed_problems():
    """30,000 duplicate rows: old code kept a RowProblem for each (735 MB for 10 MiB)."""
    data = b"id,title\n" + b"1,a\n" * 30_000
    outcome, peak = peak_of(lambda: parse_catalog(data, "c.csv"))
    assert outcome.total_rows == 30_000 and len(outcome.products) == 1
    assert outcome.problem_count == 29_999
    assert len(outcome.problems) == catalog_parse.MAX_PROBLEMS_LISTED
    assert peak < 1 * MIB  # the old code: 6.8 MiB
    with pytest.raises(CatalogValidationError, match="29999 of 30000 rows are invalid"):
        outcome.raise_if_invalid()


def test_a_json_array_is_read_item_by_item():
    """A JSON array of refused items costs memory for one item, not for the document."""
    item = b'{"id":"1","title":"a","brand":"b","price":"1.00"},'
    data = b"[" + item * 20_000 + item[:-1] + b"]"  # 1 MB, all duplicates but one
    outcome, peak = peak_of(lambda: parse_catalog(data, "c.json"))
    assert outcome.problem_count == 20_000 and len(outcome.products) == 1
    assert peak < 1 * MIB  # the old code: 8.8 MiB


def test_rows_over_the_limit_are_refused():
    data = b"id,title\n" + b"".join(b"%d,a\n" % i for i in range(11))
    with pytest.raises(CatalogFileError, match="more than 10 rows; split it"):
        parse_catalog(data, "c.csv", ParseOptions(max_rows=10))


def test_a_line_over_the_limit_is_refused():
    line = json.dumps({"id": 1, "title": "a", "x": "y" * catalog_parse.MAX_LINE_CHARS})
    with pytest.raises(CatalogFileError, match="line 1 is over 2,097,152 characters long"):
        parse_catalog(line.encode() + b"\n", "c.jsonl")
    with pytest.raises(CatalogFileError, match="over 2,097,152 characters long or never ends"):
        parse_catalog(b'[{"id": 1, "title": "a", "x": "' + b"y" * (3 * MIB), "c.json")


def _xlsx(sheet_xml: bytes, shared: list[bytes] | None = None) -> bytes:
    """A minimal workbook written by hand, so a test controls every part's bytes."""
    ns = b'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    rel = b"http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    parts = {
        "[Content_Types].xml": (
            b'<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            b'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
            b'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
            b'<Override PartName="/xl/workbook.xml" ContentType="application/vnd.'
            b'openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            b'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.'
            b'openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
            b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.'
            b'openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>'
        ),
        "_rels/.rels": (
            b'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
            b'relationships"><Relationship Id="rId1" Type="' + rel + b'/officeDocument" '
            b'Target="xl/workbook.xml"/></Relationships>'
        ),
        "xl/workbook.xml": (
            b"<workbook " + ns + b' xmlns:r="' + rel + b'"><sheets><sheet name="S" '
            b'sheetId="1" r:id="rId1"/></sheets></workbook>'
        ),
        "xl/_rels/workbook.xml.rels": (
            b'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
            b'relationships"><Relationship Id="rId1" Type="' + rel + b'/worksheet" '
            b'Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="'
            + rel
            + b'/sharedStrings" Target="sharedStrings.xml"/></Relationships>'
        ),
        "xl/worksheets/sheet1.xml": b"<worksheet " + ns + b">" + sheet_xml + b"</worksheet>",
        "xl/sharedStrings.xml": (
            b"<sst "
            + ns
            + b">"
            + b"".join(b"<si><t>" + s + b"</t></si>" for s in shared or [])
            + b"</sst>"
        ),
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, content in parts.items():
            archive.writestr(name, content)
    return out.getvalue()


def _cells(row: int, *values: str) -> bytes:
    cells = b"".join(
        b'<c r="%s%d" t="inlineStr"><is><t>%s</t></is></c>' % (b"AB"[i : i + 1], row, v.encode())
        for i, v in enumerate(values)
    )
    return b'<row r="%d">%s</row>' % (row, cells)


def test_the_handmade_workbook_reads():
    sheet = b"<sheetData>" + _cells(1, "id", "title") + _cells(2, "1", "Lamp") + b"</sheetData>"
    (product,) = parse_catalog(_xlsx(sheet), "shop.xlsx").products
    assert (product.id, product.title) == ("1", "Lamp")


def test_an_xlsx_bomb_is_refused_before_openpyxl_reads_it():
    """Old: only the zipped size was checked; a 129 KiB workbook whose shared strings
    unpack to 50 MiB cost +183 MiB."""
    sheet = (
        b'<sheetData><row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c>'
        b'</row><row r="2"><c r="A2"><v>1</v></c><c r="B2" t="s"><v>1</v></c></row></sheetData>'
    )
    bomb = _xlsx(sheet, [b"id", b"A" * (20 * MIB)])
    assert len(bomb) < 64 * 1024
    outcome, peak = peak_of(lambda: parse_catalog(bomb, "shop.xlsx"))
    assert isinstance(outcome, CatalogFileError)
    assert "sharedStrings.xml" in str(outcome) and "100 times its packed size" in str(outcome)
    assert "export the sheet as CSV UTF-8" in str(outcome)
    assert peak < 2 * MIB


def test_an_xlsx_over_the_size_limit_unpacked_is_refused():
    sheet = b"<sheetData>" + _cells(1, "id", "title") + _cells(2, "1", "Lamp") + b"</sheetData>"
    data = _xlsx(sheet, [bytes(range(256)).hex().encode() * 2000])  # 1 MB of shared strings
    with pytest.raises(CatalogFileError, match="unpacks to .* bytes, over the 0 MB limit"):
        parse_catalog(data, "shop.xlsx", ParseOptions(max_bytes=500_000))


def test_a_forged_sheet_dimension_is_ignored():
    """A sheet claiming A1:XFD1048576 made openpyxl pad every row to 16,384 cells and add
    a million empty rows (billions of cells from a 1 KB file)."""
    sheet = (
        b'<dimension ref="A1:XFD1048576"/><sheetData>'
        + _cells(1, "id", "title")
        + _cells(2, "1", "Lamp")
        + b'<row r="9"><c r="XFD9" t="inlineStr"><is><t>far</t></is></c></row></sheetData>'
    )
    outcome, peak = peak_of(lambda: parse_catalog(_xlsx(sheet), "shop.xlsx"))
    assert [p.title for p in outcome.products] == ["Lamp"] and outcome.total_rows == 1
    columns, sample, fmt = preview_rows(_xlsx(sheet), "shop.xlsx")
    assert columns == ["id", "title"] and len(sample) == 1
    assert peak < 4 * MIB
