"""Reading a merchant's catalog file into validated products.

Formats: CSV, a JSON array (or ``{"products": [...]}``), JSON Lines, each optionally
gzipped; and XLSX (the first sheet, header in row 1). The product schema is documented
in ``catalog/SCHEMA.md``. Common column names are mapped to it (``name``/``product_name``
-> title, ``supplier``/``vendor`` -> brand, Shopify's product export, ...); columns we do
not know become free-form attributes.

Parsing never changes anything: it returns products plus every row problem found, and
the caller decides (reject the whole file, or skip bad rows when asked to).

Hostile input is normal input: every size (file, unpacked file, line, field, column name,
number of columns and rows, problems listed) is checked before any regex or parser sees
the text, every text step is linear, and files are read in bounded pieces, so memory
follows the products kept, never the rows refused.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import html
import io
import itertools
import json
import math
import re
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from dona.catalog.product import Product, minor_unit_exponent
from dona.catalog.text import fold_accents
from dona.errors import CatalogFileError, CatalogValidationError, DonaError, RowProblem

MAX_ID_CHARS = 200
MAX_TITLE_CHARS = 500
MAX_TEXT_CHARS = 20_000  # description; longer is almost always a broken export
MAX_URL_CHARS = 2_000
MAX_ATTRIBUTE_CHARS = 20_000
MAX_NAME_CHARS = 1_000  # brand, category, currency
MAX_PRICE = Decimal("1e9")
MAX_NUMBER_CHARS = 64  # a price or stock value, before any regex reads it
# A field may carry markup and entities beyond its text limit; past this many times the
# limit it is refused unread (a 125 KiB title used to cost seconds of tag stripping).
RAW_FIELD_FACTOR = 5
MAX_NESTING = 32  # levels of lists/objects in one JSON product

MAX_COLUMNS = 20_000  # distinct columns or JSON keys; the demo catalog has 5,366
MAX_COLUMN_CHARS = 256  # one column name; the demo catalog's longest is 84
MAX_LINE_CHARS = 2 * 1024 * 1024  # one CSV/JSONL line or one JSON product
MAX_ROWS = 2_000_000
MAX_PROBLEMS_LISTED = 1_000  # bad rows kept with their reasons; the rest are counted
# Catalogs gzip about 7:1 (the demo: 6.8); a gzip or zip bomb is about 1000:1.
MAX_UNPACK_RATIO = 100
UNPACK_RATIO_FLOOR = 1024 * 1024  # small files may pack better; the ratio applies past 1 MiB
MAX_XLSX_MEMBERS = 10_000
SNIFF_CHARS = 2_048  # csv.Sniffer is quadratic in its sample
_CHUNK = 64 * 1024


_CURRENCY_SYMBOLS = {"$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY", "₩": "KRW", "₹": "INR"}


@dataclass
class ParseResult:
    products: list[Product]
    problems: list[RowProblem]  # the first MAX_PROBLEMS_LISTED bad rows
    total_rows: int
    format: str
    mapped_columns: dict[str, str]  # canonical field -> source column
    problem_count: int = -1  # every bad row (-1: as many as listed)

    def __post_init__(self) -> None:
        if self.problem_count < 0:
            self.problem_count = len(self.problems)

    def raise_if_invalid(self) -> None:
        if self.problem_count:
            raise CatalogValidationError(
                self.problems, self.total_rows, problem_count=self.problem_count
            )


@dataclass(frozen=True)
class ParseOptions:
    default_currency: str = "USD"
    prices_in_minor_units: bool = False  # e.g. the demo catalog stores integer cents
    max_bytes: int = 200 * 1024 * 1024
    max_rows: int = MAX_ROWS
    # the merchant's column mapping: product field -> file column ("" = leave the field out);
    # fields not named keep the automatic mapping
    columns: dict[str, str] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------
# column mapping

# English and Spanish names (accents folded by _normalise_column: "título" -> "titulo").
_ALIASES: dict[str, tuple[str, ...]] = {
    "id": (
        "id", "product_id", "productid", "sku", "item_id", "itemid", "handle", "variant_sku",
        "codigo", "cod", "codigo_producto", "id_producto", "referencia", "ref",
    ),
    "title": (
        "title", "name", "product_name", "productname", "product_title", "item_name",
        "titulo", "nombre", "producto", "nombre_producto", "nombre_del_producto",
        "articulo", "descripcion_corta_titulo",
    ),
    "brand": (
        "brand", "supplier", "vendor", "manufacturer", "make", "brand_name",
        "marca", "fabricante", "proveedor",
    ),
    "description": (
        "description", "short_description", "body_html", "body", "desc", "summary",
        "product_description", "long_description",
        "descripcion", "descripcion_corta", "descripcion_larga", "detalle", "detalles",
        "resumen",
    ),
    "price": (
        "price", "variant_price", "sale_price", "unit_price", "price_amount", "amount",
        "precio", "precio_venta", "precio_unitario", "importe", "pvp", "valor",
    ),
    "price_minor": ("price_cents", "price_minor", "price_in_cents", "precio_centavos"),
    "currency": ("currency", "price_currency", "currency_code", "moneda", "divisa"),
    "category": (
        "category", "product_category", "categories", "type", "product_type",
        "google_product_category",
        "categoria", "categorias", "rubro", "tipo", "tipo_de_producto", "familia",
    ),
    "url": (
        "url", "link", "product_url", "permalink", "web_url",
        "enlace", "vinculo", "url_producto",
    ),
    "image_url": (
        "image_url", "image", "image_src", "image_link", "img_500x500", "img_high", "img",
        "thumbnail", "picture", "img_low", "img_thumb",
        "imagen", "url_imagen", "foto", "imagen_url",
    ),
    "stock": (
        "stock", "inventory", "quantity", "qty", "variant_inventory_qty", "in_stock",
        "availability", "stock_quantity",
        "existencias", "cantidad", "inventario", "disponible", "disponibilidad",
    ),
}  # fmt: skip


def _normalise_column(name: str) -> str:
    name = fold_accents(name.strip().lstrip("\ufeff").lower())
    name = re.sub(r"[\s\-./()]+", "_", name)
    return name.strip("_")


def map_columns(columns: list[str]) -> dict[str, str]:
    """Map canonical field names to the source columns that supply them.

    The first alias found wins, so ``title`` beats ``name`` when a file has both (the
    demo catalog's ``name`` is a model number; its ``title`` is the real name).
    """
    by_norm: dict[str, str] = {}
    for col in columns:
        by_norm.setdefault(_normalise_column(col), col)
    mapping: dict[str, str] = {}
    for canonical, aliases in _ALIASES.items():
        for alias in aliases:
            if alias in by_norm and by_norm[alias] not in mapping.values():
                mapping[canonical] = by_norm[alias]
                break
    return mapping


# ---------------------------------------------------------------------------------------
# reading bytes -> rows


PRODUCT_FIELDS = tuple(_ALIASES)


def apply_column_choices(
    mapping: dict[str, str], columns: list[str], choices: dict[str, str]
) -> dict[str, str]:
    """The automatic mapping with the merchant's choices applied."""
    mapping = dict(mapping)
    for field_name, column in choices.items():
        if field_name not in _ALIASES:
            raise CatalogFileError(
                f"{field_name!r} is not a product field; map columns to one of "
                f"{', '.join(PRODUCT_FIELDS)}"
            )
        if not column:
            mapping.pop(field_name, None)
        elif column not in columns:
            shown = ", ".join(repr(c) for c in columns[:20])
            raise CatalogFileError(
                f"the file has no column {column!r} to use as {field_name}; its columns are "
                f"{shown}",
                code="file_no_such_column",
                params={"column": column, "field": field_name, "columns": shown},
            )
        else:
            mapping[field_name] = column
    return mapping


def preview_rows(
    data: bytes,
    filename: str | None = None,
    limit: int = 10,
    max_bytes: int = ParseOptions.max_bytes,
) -> tuple[list[str], list[dict[str, Any]], str]:
    """The columns, the first `limit` rows as they are in the file, and the format, for
    the upload page's preview and column mapping. Raises `CatalogFileError` like
    `parse_catalog` for files that are not catalogs at all."""
    fmt, columns, rows = _read_rows(data, filename, max_bytes)
    sample: list[dict[str, Any]] = []
    for _line, raw in rows:
        if isinstance(raw, dict):
            sample.append(raw)
        if len(sample) >= limit:
            break
    return columns, sample, fmt


def _check_size(size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise CatalogFileError(
            f"the catalog is larger than the {max_bytes // (1024 * 1024)} MB limit "
            "(DONA_MAX_UPLOAD_MB); split it or raise the limit",
            code="file_too_large",
            params={"limit_mb": max_bytes // (1024 * 1024)},
        )


class _Unpacked(io.RawIOBase):
    """The file's bytes, gunzipped on the fly in bounded pieces: never more than
    `max_bytes` of them, and never more than MAX_UNPACK_RATIO times the packed size (past
    the first MiB), so a small bomb is refused after a bounded amount of work."""

    def __init__(self, data: bytes, max_bytes: int) -> None:
        self._packed = len(data)
        self._gzipped = data[:2] == b"\x1f\x8b"
        source = io.BytesIO(data)
        self._source: Any = gzip.GzipFile(fileobj=source) if self._gzipped else source
        self._max_bytes = max_bytes
        self._count = 0
        _check_size(len(data), max_bytes)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            n = self._source.readinto(buffer)
        except (OSError, EOFError, zlib.error) as exc:
            raise CatalogFileError(
                f"the file looks gzipped but cannot be unpacked: {exc}"
            ) from None
        self._count += n
        _check_size(self._count, self._max_bytes)
        if (
            self._gzipped
            and self._count > UNPACK_RATIO_FLOOR
            and self._count > MAX_UNPACK_RATIO * self._packed
        ):
            raise CatalogFileError(
                f"the file unpacks to more than {MAX_UNPACK_RATIO} times its gzipped size "
                f"({self._packed:,} bytes), which a real catalog never does; upload the "
                "catalog uncompressed"
            )
        return n


def _check_unpacked(data: bytes, max_bytes: int) -> None:
    """Unpack a gzipped file once into nothing, piece by piece, so a bomb is refused
    (size and ratio limits) before any parsing starts; memory stays at one piece."""
    if data[:2] != b"\x1f\x8b":
        return
    source = _Unpacked(data, max_bytes)
    piece = bytearray(_CHUNK)
    while source.readinto(piece):
        pass


class _Text:
    """The decoded text of a catalog file, read in bounded pieces (lines or chunks).

    Tracks how many lines were returned so a decoding error can name its line."""

    def __init__(self, data: bytes, max_bytes: int, newline: str = "") -> None:
        raw = io.BufferedReader(_Unpacked(data, max_bytes), _CHUNK)
        head = raw.peek(4096)[:4096]
        utf16 = head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
        if b"\x00" in head and not utf16:
            raise CatalogFileError(
                "the file is binary, not a catalog (a spreadsheet? export it as CSV UTF-8)",
                code="file_binary",
            )
        # utf-8-sig also strips a UTF-8 byte order mark
        encoding = "utf-16" if utf16 else "utf-8-sig"
        self._io = io.TextIOWrapper(raw, encoding=encoding, newline=newline)
        self.newlines = 0  # "\n" characters returned so far

    def readline(self, limit: int = MAX_LINE_CHARS, strict: bool = True) -> str:
        """The next line, at most `limit` characters; longer ones are refused (`strict`)
        or returned cut."""
        try:
            line = self._io.readline(limit + 1 if strict else limit)
        except UnicodeDecodeError as exc:
            raise self._decode_error(exc) from None
        if strict and len(line) > limit:
            raise CatalogFileError(
                f"line {self.newlines + 1} is over {limit:,} characters long; a catalog row "
                "is far shorter (a missing line break, or not a catalog at all?)"
            )
        self.newlines += line.endswith("\n")
        return line

    def read(self, size: int) -> str:
        try:
            text = self._io.read(size)
        except UnicodeDecodeError as exc:
            raise self._decode_error(exc) from None
        self.newlines += text.count("\n")
        return text

    def __iter__(self) -> Iterator[str]:
        while line := self.readline():
            yield line

    def _decode_error(self, exc: UnicodeDecodeError) -> CatalogFileError:
        chunk = bytes(exc.object)  # the piece being decoded, after the lines returned
        line = self.newlines + chunk[: exc.start].count(b"\n") + 1
        return CatalogFileError(
            f"the file is not UTF-8 text (undecodable byte 0x{chunk[exc.start]:02x} on line "
            f"{line}); re-save it as UTF-8 (in Excel: 'CSV UTF-8') and upload it again",
            code="file_not_utf8",
            params={"byte": f"{chunk[exc.start]:02x}", "line": line},
        )


def _detect_format(data: bytes, max_bytes: int, filename: str | None) -> str:
    """csv, json or jsonl, from the name and the first line; refuses empty and binary files."""
    text = _Text(data, max_bytes, newline="\n")
    first = ""
    while not first:  # the first line with content, read in small pieces
        line = text.readline(4096, strict=False)
        if not line:
            raise CatalogFileError(
                "the file is empty; upload a catalog with at least one product", code="file_empty"
            )
        first = line.strip()
    name = (filename or "").lower().removesuffix(".gz")
    if name.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    if name.endswith(".json"):
        return (
            "json"
            if first.startswith(("[", "{")) and not _looks_like_jsonl(first, line, text)
            else "jsonl"
        )
    if name.endswith((".csv", ".tsv", ".txt")):
        return "csv"
    if first.startswith("["):
        return "json"
    if first.startswith("{"):
        return "jsonl" if _looks_like_jsonl(first, line, text) else "json"
    return "csv"


def _looks_like_jsonl(first: str, line: str, text: _Text) -> bool:
    """The first line is a whole JSON object and more content follows it."""
    if not first.startswith("{"):
        return False
    if not line.endswith("\n"):  # only the first piece was read
        line += text.readline(MAX_LINE_CHARS - len(line), strict=False)
        if not line.endswith("\n"):
            return False  # longer than any JSON line: one big JSON document
        first = line.strip()
    try:
        json.loads(first)
    except (ValueError, RecursionError):
        return False
    while line := text.readline(MAX_LINE_CHARS, strict=False):
        if line.strip():
            return True
    return False


def _check_columns(columns: Iterable[str], count: int) -> None:
    if count > MAX_COLUMNS:
        raise CatalogFileError(
            f"the file has more than {MAX_COLUMNS:,} columns; a catalog needs far fewer "
            "(keep the product fields and the attributes shoppers choose by)"
        )
    for column in columns:
        if len(column) > MAX_COLUMN_CHARS:
            raise CatalogFileError(
                f"a column name is {len(column):,} characters long (limit {MAX_COLUMN_CHARS}): "
                f"{column[:60]!r}…; shorten it"
            )


def _iter_csv(
    data: bytes, max_bytes: int
) -> tuple[list[str], Iterator[tuple[int, dict[str, Any] | str]]]:
    text = _Text(data, max_bytes, newline="")
    first = text.readline()
    # csv.Sniffer is quadratic in its sample: a bounded piece of the header line suffices
    sample = first[:SNIFF_CHARS].split("\n", 1)[0]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|")
        delimiter = dialect.delimiter
    except csv.Error:
        delimiter = ","
    reader = csv.reader(itertools.chain([first], text), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise CatalogFileError(
            "the file is empty; upload a catalog with a header row", code="file_no_header"
        ) from None
    except csv.Error as exc:
        raise CatalogFileError(f"the CSV header cannot be read: {exc}") from None
    _check_columns(header, len(header))
    header = [h.strip().lstrip("\ufeff") for h in header]

    def rows() -> Iterator[tuple[int, dict[str, Any] | str]]:
        while True:
            line = reader.line_num + 1
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield line, f"unreadable CSV ({exc})"
                continue
            if not any(v.strip() for v in values):
                continue  # blank line
            if len(values) > len(header):
                extra = values[len(header) :]
                if any(v.strip() for v in extra):
                    yield (
                        line,
                        (
                            f"has {len(values)} fields but the header has {len(header)} "
                            "(an unquoted comma or delimiter?)"
                        ),
                    )
                    continue
                values = values[: len(header)]
            yield line, dict(zip(header, values, strict=False))

    return header, rows()


_JSON_WS = re.compile(r"[ \t\n\r]*")
_JSON = json.JSONDecoder()


class _JsonCursor:
    """Reads one JSON document value by value from a bounded window of its text, so a
    large array costs memory for one item at a time, not for the whole document."""

    def __init__(self, text: _Text) -> None:
        self._text = text
        self._buf = ""
        self._pos = 0
        self._eof = False
        self._offset = 0  # characters before the window
        self._line = 1  # line number at the window's start
        self._line_start = 0  # offset where that line starts

    def _more(self) -> bool:
        """Read more text. Reading as much again as is pending keeps a long value linear."""
        if self._eof:
            return False
        pending = len(self._buf) - self._pos
        if pending > MAX_LINE_CHARS:
            raise CatalogFileError(
                f"a product in the JSON (from line {self.position()[0]}) is over "
                f"{MAX_LINE_CHARS:,} characters long or never ends (a missing quote or "
                "bracket?); fix it or leave it out"
            )
        chunk = self._text.read(max(_CHUNK, pending))
        done = self._buf[: self._pos]
        newline = done.rfind("\n")
        if newline >= 0:
            self._line += done.count("\n")
            self._line_start = self._offset + newline + 1
        self._offset += self._pos
        self._buf = self._buf[self._pos :] + chunk
        self._pos = 0
        self._eof = not chunk
        return bool(chunk)

    def position(self, pos: int | None = None) -> tuple[int, int]:
        """(line, column) of a place in the window, for messages."""
        pos = self._pos if pos is None else pos
        newline = self._buf.rfind("\n", 0, pos)
        line = self._line + self._buf.count("\n", 0, pos)
        start = self._offset + newline + 1 if newline >= 0 else self._line_start
        return line, self._offset + pos - start + 1

    def error(self, message: str, pos: int | None = None) -> CatalogFileError:
        line, column = self.position(pos)
        return CatalogFileError(
            f"the JSON cannot be parsed (line {line}, column {column}: {message})"
        )

    def peek(self) -> str:
        """The next character that is not blank ("" at the end)."""
        while True:
            self._pos = _JSON_WS.match(self._buf, self._pos).end()  # type: ignore[union-attr]
            if self._pos < len(self._buf):
                return self._buf[self._pos]
            if not self._more():
                return ""

    def take(self, char: str, expected: str) -> None:
        if self.peek() != char:
            raise self.error(expected)
        self._pos += 1

    def value(self) -> Any:
        self.peek()
        while True:
            try:
                value, end = _JSON.raw_decode(self._buf, self._pos)
            except json.JSONDecodeError as exc:
                cut = exc.msg.startswith("Unterminated string") or exc.pos >= len(self._buf) - 6
                if cut and self._more():
                    continue  # the value goes on past the window
                raise self.error(exc.msg, exc.pos) from None
            except RecursionError:
                raise CatalogFileError(
                    f"the JSON is nested too deeply (line {self.position()[0]}); a product "
                    "must be an object of text, numbers and short lists"
                ) from None
            except ValueError as exc:  # e.g. an integer of more than 4,300 digits
                raise self.error(str(exc).split(";")[0]) from None
            if end == len(self._buf) and self._more():
                continue  # a number at the window's edge may go on
            self._pos = end
            return value


def _json_array(cursor: _JsonCursor) -> Iterator[tuple[int, dict[str, Any] | str]]:
    cursor.take("[", "Expecting '['")
    if cursor.peek() == "]":
        cursor.take("]", "Expecting ']'")
        return
    number = 0
    while True:
        number += 1
        item = cursor.value()
        yield number, item if isinstance(item, dict) else "is not a JSON object"
        if cursor.peek() == "]":
            cursor.take("]", "Expecting ']'")
            return
        cursor.take(",", "Expecting ',' delimiter")


_NOT_A_PRODUCT_LIST = (
    "the JSON is an object, not a list of products; upload a JSON array of "
    'products or an object like {"products": [...]}'
)


def _json_items(data: bytes, max_bytes: int) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """The items of a JSON array, or of the one array inside a JSON object, one by one."""
    cursor = _JsonCursor(_Text(data, max_bytes, newline="\n"))
    first = cursor.peek()
    if first == "[":
        yield from _json_array(cursor)
    elif first == "{":
        cursor.take("{", "Expecting '{'")
        lists = 0
        if cursor.peek() != "}":
            while True:
                if cursor.peek() != '"':
                    raise cursor.error("Expecting property name enclosed in double quotes")
                cursor.value()
                cursor.take(":", "Expecting ':' delimiter")
                if cursor.peek() == "[":
                    lists += 1
                    if lists > 1:
                        raise CatalogFileError(_NOT_A_PRODUCT_LIST, code="file_json_not_list")
                    yield from _json_array(cursor)
                else:
                    cursor.value()  # other members are not products
                if cursor.peek() == "}":
                    break
                cursor.take(",", "Expecting ',' delimiter")
        cursor.take("}", "Expecting '}'")
        if lists != 1:
            raise CatalogFileError(_NOT_A_PRODUCT_LIST, code="file_json_not_list")
    else:
        cursor.value()  # not JSON at all: says where
        raise CatalogFileError("the JSON must be an array of product objects")
    if cursor.peek():
        raise cursor.error("Extra data")


def _jsonl_items(data: bytes, max_bytes: int) -> Iterator[tuple[int, dict[str, Any] | str]]:
    # lines end at "\n" only: U+2028 etc. may sit inside JSON strings
    text = _Text(data, max_bytes, newline="\n")
    number = 0
    while line := text.readline():
        number += 1
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, f"invalid JSON ({exc.msg} at column {exc.colno})"
            continue
        except RecursionError:
            yield number, "invalid JSON (nested too deeply)"
            continue
        except ValueError as exc:  # e.g. an integer of more than 4,300 digits
            yield number, f"invalid JSON ({str(exc).split(';')[0]})"
            continue
        yield number, item if isinstance(item, dict) else "is not a JSON object"


def _union_keys(rows: Iterator[tuple[int, dict[str, Any] | str]]) -> list[str]:
    """Every key of every item, in order of appearance (the file's columns)."""
    seen: dict[str, None] = {}
    for _line, item in rows:
        if isinstance(item, dict):
            for key in item:
                if key not in seen:
                    seen[key] = None
                    _check_columns((key,), len(seen))
    return list(seen)


XLSX_MAGIC = b"PK\x03\x04"  # a zip container: .xlsx
XLS_MAGIC = b"\xd0\xcf\x11\xe0"  # the old binary Excel format


def _is_xlsx(data: bytes) -> bool:
    return data[:4] == XLSX_MAGIC and b"xl/" in data[:4096]


def _cell_text(value: Any) -> str | None:
    """A spreadsheet cell as the text a CSV export would hold."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # ids and counts typed as numbers: 1299.0 -> "1299"
    if isinstance(value, datetime) and value.time() == datetime.min.time():
        return value.date().isoformat()  # Excel stores dates as midnight datetimes
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _check_xlsx_members(data: bytes, max_bytes: int) -> None:
    """Refuse a workbook whose parts unpack to too much, before openpyxl reads any.

    The sizes come from the zip's directory; zipfile never unpacks a member past its
    declared size (and checks the CRC), so they bound what openpyxl can be given."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        OSError,
        EOFError,
        ValueError,
        NotImplementedError,
    ):
        return  # not a readable zip: openpyxl's own error below says so
    if len(members) > MAX_XLSX_MEMBERS:
        raise CatalogFileError(
            f"the spreadsheet has {len(members):,} parts (limit {MAX_XLSX_MEMBERS:,}); "
            "export the sheet as CSV UTF-8 and upload that"
        )
    unpacked = 0
    for member in members:
        unpacked += member.file_size
        if member.file_size > UNPACK_RATIO_FLOOR and member.file_size > MAX_UNPACK_RATIO * max(
            member.compress_size, 1
        ):
            raise CatalogFileError(
                f"the spreadsheet's part {member.filename[:80]!r} unpacks to "
                f"{member.file_size:,} bytes from {member.compress_size:,}, more than "
                f"{MAX_UNPACK_RATIO} times its packed size, which a real workbook never does; "
                "export the sheet as CSV UTF-8 and upload that"
            )
    if unpacked > max_bytes:
        raise CatalogFileError(
            f"the spreadsheet unpacks to {unpacked:,} bytes, over the "
            f"{max_bytes // (1024 * 1024)} MB limit (DONA_MAX_UPLOAD_MB); split it or "
            "raise the limit"
        )


def _iter_xlsx(
    data: bytes, max_bytes: int
) -> tuple[list[str], Iterator[tuple[int, dict[str, Any] | str]]]:
    """The first sheet of a workbook: row 1 is the header; row numbers are Excel's."""
    _check_size(len(data), max_bytes)
    _check_xlsx_members(data, max_bytes)
    import openpyxl

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        sheet = book.worksheets[0]
        # the sheet's <dimension> is the file's claim: a forged "A1:XFD1048576" would make
        # openpyxl pad every row to 16,384 cells and add a million empty rows
        sheet.reset_dimensions()
        header = next(sheet.iter_rows(min_row=1, max_row=1, values_only=True), None)
    except Exception:  # a damaged or password-protected workbook
        raise CatalogFileError(
            "the spreadsheet cannot be read (a damaged or protected workbook?); save it "
            "again as .xlsx or export it as CSV UTF-8",
            code="file_xlsx_unreadable",
        ) from None
    if header is None or not any(c is not None for c in header):
        book.close()
        raise CatalogFileError(
            "the first sheet is empty; put the header in row 1", code="file_xlsx_empty"
        )
    columns = [_cell_text(c) or "" for c in header]
    while columns and not columns[-1]:
        columns.pop()
    _check_columns(columns, len(columns))

    def items() -> Iterator[tuple[int, dict[str, Any] | str]]:
        try:
            rows = sheet.iter_rows(min_row=2, max_col=len(columns), values_only=True)
            for number, values in enumerate(rows, start=2):
                if not any(v is not None and str(v).strip() for v in values):
                    continue  # blank rows between products are layout, not data
                yield (
                    number,
                    {c: _cell_text(v) for c, v in zip(columns, values, strict=False) if c},
                )
        except DonaError:
            raise
        except Exception:  # a part damaged past the header
            raise CatalogFileError(
                "the spreadsheet cannot be read past its header (a damaged workbook?); "
                "save it again as .xlsx or export it as CSV UTF-8",
                code="file_xlsx_damaged",
            ) from None
        finally:
            book.close()

    return [c for c in columns if c], items()


def _read_rows(
    data: bytes, filename: str | None, max_bytes: int
) -> tuple[str, list[str], Iterator[tuple[int, dict[str, Any] | str]]]:
    """(format, columns, numbered rows) of any supported file.

    JSON and JSON Lines are read twice, item by item: once for the columns (every key of
    every item) and once for the rows, so memory follows the products kept, not the file."""
    if not data or data.isspace():
        raise CatalogFileError(
            "the file is empty; upload a catalog with at least one product", code="file_empty"
        )
    if _is_xlsx(data):
        return "xlsx", *_iter_xlsx(data, max_bytes)
    if data[:4] == XLS_MAGIC:
        raise CatalogFileError(
            "this is an old .xls spreadsheet; save it as .xlsx or export it as CSV UTF-8",
            code="file_xls",
        )
    _check_unpacked(data, max_bytes)
    fmt = _detect_format(data, max_bytes, filename)
    if fmt == "csv":
        return fmt, *_iter_csv(data, max_bytes)
    items = _jsonl_items if fmt == "jsonl" else _json_items
    columns = _union_keys(items(data, max_bytes))
    return fmt, columns, items(data, max_bytes)


# ---------------------------------------------------------------------------------------
# values


_SPACE_RE = re.compile(r"\s+")
_ANGLE_RE = re.compile(r"[<>]")
_ASCII_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def strip_tags(text: str) -> str:
    """Real tags ("<p>", "</b>", "<br/>") and comments replaced by a space, in one linear
    pass; "size < 5 > 3" and "<b adapter" survive. The same result as the regex
    ``<(?:/?[A-Za-z][^<>]*|!--.*?--)>``, whose comment branch is quadratic (every "<!--"
    rescans the rest of the text for "-->")."""
    out: list[str] = []
    done = 0  # text[:done] is settled
    no_comment_end_after = len(text) + 1  # no "-->" starts at or after this offset
    start = text.find("<")
    while start != -1:
        end = -1
        if text.startswith("!--", start + 1):
            if start + 4 < no_comment_end_after:
                close = text.find("-->", start + 4)
                if close == -1:
                    no_comment_end_after = start + 4
                else:
                    end = close + 3
        else:
            letter = start + 2 if text.startswith("/", start + 1) else start + 1
            if letter < len(text) and text[letter] in _ASCII_LETTERS:
                angle = _ANGLE_RE.search(text, letter + 1)
                if angle is None:
                    break  # no ">" anywhere after: no more tags
                if angle.group() == ">":
                    end = angle.end()
        if end == -1:
            start = text.find("<", start + 1)
            continue
        out.append(text[done:start])
        out.append(" ")
        done = end
        start = text.find("<", end)
    out.append(text[done:])
    return "".join(out)


def _clean_text(value: Any) -> str | None:
    """Callers bound the value's size first (see `_row_to_product`)."""
    if value is None:
        return None
    if isinstance(value, list | dict):
        value = json.dumps(value, ensure_ascii=False)
    # HTML bodies (Shopify) become plain text. Decode entities *before* stripping tags, so
    # "&lt;script&gt;" cannot turn into markup after the strip.
    text = html.unescape(str(value))
    if "<" in text:
        text = strip_tags(text)
    text = _SPACE_RE.sub(" ", text).strip()
    return text or None


def _raw_size(value: Any) -> int:
    """The size of a raw value as text, without building that text for large containers."""
    if value is None:
        return 0
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list | dict):
        return len(json.dumps(value, ensure_ascii=False))  # bounded by MAX_LINE_CHARS
    return len(str(value))


def _nested_deeper_than(value: Any, limit: int) -> bool:
    """Whether lists/objects nest more than `limit` levels (iteratively: no recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        if depth > limit:
            return True
        stack.extend((c, depth + 1) for c in children if isinstance(c, list | dict))
    return False


def parse_price(value: Any, currency: str) -> tuple[int | None, str | None]:
    """Parse '12.95', '12,95 €', '$1,299.00', 1299 -> (minor units, currency from symbol)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, None
    if isinstance(value, bool):
        raise ValueError(f"unparseable price {value!r}")
    symbol_currency = None
    if isinstance(value, int | float):
        amount = Decimal(str(value))
    else:
        text = str(value).strip()
        if len(text) > MAX_NUMBER_CHARS:
            raise ValueError(f"unparseable price {text[:40]!r}… ({len(text):,} characters)")
        for symbol, code in _CURRENCY_SYMBOLS.items():
            if symbol in text:
                symbol_currency = code
                text = text.replace(symbol, "")
        text = re.sub(r"\b[A-Z]{3}\b", "", text).replace("\u00a0", "").replace(" ", "")
        if re.fullmatch(r"\d{1,3}(\.\d{3})+(,\d{1,2})?", text) or re.fullmatch(
            r"\d+,\d{1,2}", text
        ):
            text = text.replace(".", "").replace(",", ".")  # 1.299,00 / 12,95 (European)
        else:
            text = text.replace(",", "")  # 1,299.00
        try:
            amount = Decimal(text)
        except InvalidOperation:
            raise ValueError(f"unparseable price {str(value)[:40]!r}") from None
    if not amount.is_finite():
        raise ValueError(f"unparseable price {str(value)[:40]!r}")
    if amount < 0:
        raise ValueError(f"negative price {str(value)[:40]!r}")
    if amount > MAX_PRICE:
        raise ValueError(f"absurd price {str(value)[:40]!r}")
    exponent = minor_unit_exponent(symbol_currency or currency)
    return int((amount * 10**exponent).to_integral_value()), symbol_currency


_TRUE = {
    "true",
    "yes",
    "y",
    "in stock",
    "instock",
    "in_stock",
    "available",
    "1",
    "si",
    "sí",
    "verdadero",
    "disponible",
    "en stock",
    "hay stock",
}
_FALSE = {"false", "no", "n", "out of stock", "outofstock", "out_of_stock", "sold out", "0",
          "falso", "agotado", "sin stock", "no disponible"}  # fmt: skip


def parse_stock(value: Any) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        return 1 if value else 0
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError(f"unreadable stock value {value!r} (use a number)")
        return max(int(value), 0)
    text = str(value).strip().lower()
    if len(text) > MAX_NUMBER_CHARS:
        raise ValueError(f"unreadable stock value {text[:40]!r}… (use a number)")
    if re.fullmatch(r"-?\d+(\.0+)?", text):
        return max(int(float(text)), 0)
    if text in _TRUE:
        return 1
    if text in _FALSE:
        return 0
    raise ValueError(
        f"unreadable stock value {str(value)[:40]!r} (use a number or in/out of stock)"
    )


def _normalise_id(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


# ---------------------------------------------------------------------------------------
# rows -> products


class _Refused(Exception):
    """A row's reason for refusal (internal: becomes a RowProblem)."""


def _text_field(raw: dict[str, Any], column: str | None, name: str, limit: int) -> str | None:
    """A mapped field's clean text: its raw size bounded before any regex reads it."""
    value = raw.get(column) if column else None
    if value is None:
        return None
    size = _raw_size(value)
    if size > limit * RAW_FIELD_FACTOR:
        raise _Refused(f"{name} is {size} characters long (limit {limit})")
    text = _clean_text(value)
    if text and len(text) > limit:
        raise _Refused(f"{name} is {len(text)} characters long (limit {limit})")
    return text


def _minor_units(value: Any) -> int:
    text = str(value).strip()
    if len(text) > MAX_NUMBER_CHARS:
        raise ValueError(f"unparseable price {text[:40]!r}…")
    amount = Decimal(text)
    if not amount.is_finite():
        raise ValueError(f"unparseable price {text[:40]!r}")
    if amount < 0:
        raise ValueError(f"negative price {value!r}")
    if amount > MAX_PRICE * 1000:
        raise ValueError(f"absurd price {text[:40]!r}")
    return int(amount)


def _row_to_product(
    raw: dict[str, Any], mapping: dict[str, str], options: ParseOptions
) -> tuple[Product | None, str | None]:
    """Returns (product, None) or (None, reason)."""
    try:
        return _build_product(raw, mapping, options), None
    except _Refused as refused:
        return None, str(refused)


def _build_product(raw: dict[str, Any], mapping: dict[str, str], options: ParseOptions) -> Product:
    def get(canonical: str) -> Any:
        col = mapping.get(canonical)
        return raw.get(col) if col else None

    nested = any(isinstance(v, list | dict) for v in raw.values())
    if nested and _nested_deeper_than(raw, MAX_NESTING):
        raise _Refused(f"is nested more than {MAX_NESTING} levels deep")
    raw_id = get("id")
    if _raw_size(raw_id) > MAX_ID_CHARS * RAW_FIELD_FACTOR:
        raise _Refused(f"id is {_raw_size(raw_id)} characters long (limit {MAX_ID_CHARS})")
    product_id = _normalise_id(raw_id)
    title = _text_field(raw, mapping.get("title"), "title", MAX_TITLE_CHARS)
    if not product_id and not title:
        raise _Refused("missing id and title")
    if not product_id:
        raise _Refused("missing id")
    if not title:
        raise _Refused("missing title")
    if len(product_id) > MAX_ID_CHARS:
        raise _Refused(f"id is {len(product_id)} characters long (limit {MAX_ID_CHARS})")

    description = _text_field(raw, mapping.get("description"), "description", MAX_TEXT_CHARS)
    currency = (
        _text_field(raw, mapping.get("currency"), "currency", MAX_NAME_CHARS)
        or options.default_currency
    ).upper()
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise _Refused(f"currency {currency[:20]!r} is not a 3-letter ISO code")
    try:
        if mapping.get("price_minor") and get("price_minor") not in (None, ""):
            price_minor: int | None = _minor_units(get("price_minor"))
            symbol_currency = None
        elif options.prices_in_minor_units and get("price") not in (None, ""):
            price_minor = _minor_units(get("price"))
            symbol_currency = None
        else:
            price_minor, symbol_currency = parse_price(get("price"), currency)
    except (ValueError, InvalidOperation, OverflowError) as exc:
        raise _Refused(str(exc) if isinstance(exc, ValueError) else "unparseable price") from None
    if symbol_currency:
        currency = symbol_currency

    try:
        stock = parse_stock(get("stock"))
    except (ValueError, OverflowError) as exc:
        raise _Refused(str(exc)) from None

    url = _text_field(raw, mapping.get("url"), "url", MAX_URL_CHARS)
    image_url = _text_field(raw, mapping.get("image_url"), "image_url", MAX_URL_CHARS)
    if image_url and not image_url.startswith(("http://", "https://", "/")):
        image_url = None  # a relative or data: URL cannot be shown safely; placeholder instead

    used = set(mapping.values())
    attributes: dict[str, Any] = {}
    for key, value in raw.items():
        if key in used or value is None or value == "" or value == []:
            continue
        size = _raw_size(value) if isinstance(value, str | list | dict) else 0
        if size > MAX_ATTRIBUTE_CHARS:
            raise _Refused(
                f"field {key[:60]!r} is {size} characters long (limit {MAX_ATTRIBUTE_CHARS})"
            )
        attributes[key] = value

    return Product(
        id=product_id,
        title=title,
        brand=_text_field(raw, mapping.get("brand"), "brand", MAX_NAME_CHARS),
        description=description,
        price_minor=price_minor,
        currency=currency,
        category=_text_field(raw, mapping.get("category"), "category", MAX_NAME_CHARS),
        url=url,
        image_url=image_url,
        stock=stock,
        attributes=attributes,
    )


def _is_shopify(columns: list[str]) -> bool:
    normalised = {_normalise_column(c) for c in columns}
    return {"handle", "title", "variant_price"} <= normalised


def _merge_shopify_rows(
    rows: Iterator[tuple[int, dict[str, Any] | str]], columns: list[str]
) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """Shopify exports one row per variant/image; only the first row of a handle has a title.
    Merge them: lowest variant price, summed inventory, variant count as an attribute."""
    handle_col = next(c for c in columns if _normalise_column(c) == "handle")
    price_col = next(c for c in columns if _normalise_column(c) == "variant_price")
    qty_col = next((c for c in columns if _normalise_column(c) == "variant_inventory_qty"), None)
    merged: dict[str, tuple[int, dict[str, Any]]] = {}
    order: list[tuple[int, dict[str, Any] | str]] = []
    for line, raw in rows:
        if isinstance(raw, str):
            order.append((line, raw))
            continue
        handle = (raw.get(handle_col) or "").strip()
        title_col = next(c for c in columns if _normalise_column(c) == "title")
        if handle in merged and not (raw.get(title_col) or "").strip():
            _, first = merged[handle]
            first["_variants"] = first.get("_variants", 1) + (1 if raw.get(price_col) else 0)
            # numbers are bounded before Decimal/int read them (int() is quadratic)
            price, first_price = raw.get(price_col) or "", first.get(price_col) or ""
            qty = (raw.get(qty_col) or "") if qty_col else ""
            first_qty = (first.get(qty_col) or "") if qty_col else ""
            try:
                if (
                    price
                    and max(len(price), len(first_price)) <= MAX_NUMBER_CHARS
                    and (not first_price or Decimal(price) < Decimal(first_price))
                ):
                    first[price_col] = price
                if qty_col and qty and max(len(qty), len(first_qty)) <= MAX_NUMBER_CHARS:
                    first[qty_col] = str(int(first_qty or 0) + int(qty))
            except (InvalidOperation, ValueError):
                pass  # the first row's value stands; that row is validated on its own
            continue
        merged[handle] = (line, raw)
        order.append((line, raw))
    yield from order


def parse_catalog(
    data: bytes, filename: str | None = None, options: ParseOptions | None = None
) -> ParseResult:
    """Parse a catalog file's bytes. Raises `CatalogFileError` when the file as a whole
    is unusable; row-level problems are collected in the result."""
    options = options or ParseOptions()
    fmt, columns, rows = _read_rows(data, filename, options.max_bytes)
    if fmt == "csv" and _is_shopify(columns):
        rows = _merge_shopify_rows(rows, columns)
        fmt = "csv (shopify)"
    mapping = apply_column_choices(map_columns(columns), columns, options.columns)
    missing = [f for f in ("id", "title") if f not in mapping]
    if missing:
        shown = ", ".join(repr(c) for c in columns[:12]) or "none"
        wanted = "; ".join(f"{f}: one of {', '.join(_ALIASES[f][:4])}" for f in missing)
        raise CatalogFileError(
            f"this does not look like a product catalog: no column for {' and '.join(missing)} "
            f"(columns found: {shown}). Name the columns ({wanted}), or map yours "
            f"(`dona ingest --map {missing[0]}=COLUMN`, or the column mapping on the upload page).",
            code="file_no_columns",
            params={
                "missing": missing,
                "columns": shown,
                "field": missing[0],
                "examples": "; ".join(f"{f}: {', '.join(_ALIASES[f][:4])}" for f in missing),
            },
        )

    products: list[Product] = []
    problems: list[RowProblem] = []  # the first MAX_PROBLEMS_LISTED; the rest are counted
    problem_count = 0
    first_row_of: dict[str, int] = {}
    total = 0
    for line, raw in rows:
        total += 1
        if total > options.max_rows:
            raise CatalogFileError(
                f"the file has more than {options.max_rows:,} rows; split it into smaller files",
                code="file_too_many_rows",
                params={"limit": options.max_rows},
            )
        problem: RowProblem | None = None
        if isinstance(raw, str):
            problem = RowProblem(line, raw)
        else:
            product, reason = _row_to_product(raw, mapping, options)
            if product is None:
                problem = RowProblem(line, reason or "invalid", _short_id(raw.get(mapping["id"])))
            elif product.id in first_row_of:
                first = first_row_of[product.id]
                problem = RowProblem(line, f"duplicate id (first seen on row {first})", product.id)
            else:
                first_row_of[product.id] = line
                products.append(product)
        if problem is not None:
            problem_count += 1
            if len(problems) < MAX_PROBLEMS_LISTED:
                problems.append(problem)
    if total == 0:
        raise CatalogFileError("the file has a header but no products", code="file_no_products")
    return ParseResult(products, problems, total, fmt, mapping, problem_count)


def _short_id(value: Any) -> str | None:
    """A refused row's id as its problem shows it: at most 60 characters."""
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        ident = _normalise_id(value if not isinstance(value, str) else value[:200])
        return ident[:60] if ident else None
    return None


def parse_catalog_file(path: str | Path, options: ParseOptions | None = None) -> ParseResult:
    options = options or ParseOptions()
    path = check_catalog_file(path, options.max_bytes)
    return parse_catalog(path.read_bytes(), path.name, options)


def check_catalog_file(path: str | Path, max_bytes: int) -> Path:
    """The path of a catalog file that exists, is a file, and is within `max_bytes`;
    otherwise a plain error saying which (the CLI's and the service's one check)."""
    path = Path(path)
    if not path.exists():
        raise CatalogFileError(
            f"no such file: {path}", code="file_not_found", params={"path": str(path)}
        )
    if path.is_dir():
        raise CatalogFileError(
            f"{path} is a folder; give the catalog file inside it",
            code="file_is_folder",
            params={"path": str(path)},
        )
    size = path.stat().st_size
    if size > max_bytes:
        raise CatalogFileError(
            f"{path.name} is {size // (1024 * 1024)} MB, over the "
            f"{max_bytes // (1024 * 1024)} MB limit (DONA_MAX_UPLOAD_MB)",
            code="file_over_limit",
            params={
                "name": path.name,
                "size_mb": size // (1024 * 1024),
                "limit_mb": max_bytes // (1024 * 1024),
            },
        )
    return path
