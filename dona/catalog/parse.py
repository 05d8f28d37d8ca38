"""Reading a merchant's catalog file into validated products.

Formats: CSV, a JSON array (or ``{"products": [...]}``), JSON Lines, each optionally
gzipped; and XLSX (the first sheet, header in row 1). The product schema is documented
in ``catalog/SCHEMA.md``. Common column names are mapped to it (``name``/``product_name``
-> title, ``supplier``/``vendor`` -> brand, Shopify's product export, ...); columns we do
not know become free-form attributes.

Parsing never changes anything: it returns products plus every row problem found, and
the caller decides (reject the whole file, or skip bad rows when asked to).
"""

from __future__ import annotations

import codecs
import csv
import gzip
import html
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from dona.catalog.product import Product, minor_unit_exponent
from dona.errors import CatalogFileError, CatalogValidationError, RowProblem

MAX_ID_CHARS = 200
MAX_TITLE_CHARS = 500
MAX_TEXT_CHARS = 20_000  # description; longer is almost always a broken export
MAX_URL_CHARS = 2_000
MAX_ATTRIBUTE_CHARS = 20_000
MAX_PRICE = Decimal("1e9")


_CURRENCY_SYMBOLS = {"$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY", "₩": "KRW", "₹": "INR"}


@dataclass
class ParseResult:
    products: list[Product]
    problems: list[RowProblem]
    total_rows: int
    format: str
    mapped_columns: dict[str, str]  # canonical field -> source column

    def raise_if_invalid(self) -> None:
        if self.problems:
            raise CatalogValidationError(self.problems, self.total_rows)


@dataclass(frozen=True)
class ParseOptions:
    default_currency: str = "USD"
    prices_in_minor_units: bool = False  # e.g. the demo catalog stores integer cents
    max_bytes: int = 200 * 1024 * 1024
    # the merchant's column mapping: product field -> file column ("" = leave the field out);
    # fields not named keep the automatic mapping
    columns: dict[str, str] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------
# column mapping

_ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("id", "product_id", "productid", "sku", "item_id", "itemid", "handle", "variant_sku"),
    "title": ("title", "name", "product_name", "productname", "product_title", "item_name"),
    "brand": ("brand", "supplier", "vendor", "manufacturer", "make", "brand_name"),
    "description": (
        "description",
        "short_description",
        "body_html",
        "body",
        "desc",
        "summary",
        "product_description",
        "long_description",
    ),
    "price": ("price", "variant_price", "sale_price", "unit_price", "price_amount", "amount"),
    "price_minor": ("price_cents", "price_minor", "price_in_cents"),
    "currency": ("currency", "price_currency", "currency_code"),
    "category": (
        "category",
        "product_category",
        "categories",
        "type",
        "product_type",
        "google_product_category",
    ),
    "url": ("url", "link", "product_url", "permalink", "web_url"),
    "image_url": (
        "image_url",
        "image",
        "image_src",
        "image_link",
        "img_500x500",
        "img_high",
        "img",
        "thumbnail",
        "picture",
        "img_low",
        "img_thumb",
    ),
    "stock": (
        "stock",
        "inventory",
        "quantity",
        "qty",
        "variant_inventory_qty",
        "in_stock",
        "availability",
        "stock_quantity",
    ),
}


def _normalise_column(name: str) -> str:
    name = name.strip().lstrip("\ufeff").lower()
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
            raise CatalogFileError(
                f"the file has no column {column!r} to use as {field_name}; its columns are "
                f"{', '.join(repr(c) for c in columns[:20])}"
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


def catalog_text(data: bytes, max_bytes: int) -> str:
    """The file's text: gunzipped, size-checked, decoded; whole-file problems raised."""
    if not data or not data.strip():
        raise CatalogFileError("the file is empty; upload a catalog with at least one product")
    data = read_catalog_bytes(data, max_bytes)
    if b"\x00" in data[:4096] and not data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise CatalogFileError(
            "the file is binary, not a catalog (a spreadsheet? export it as CSV UTF-8)"
        )
    text = _decode(data)
    if not text.strip():
        raise CatalogFileError("the file is empty; upload a catalog with at least one product")
    return text


def _decode(data: bytes) -> str:
    if data.startswith(codecs.BOM_UTF16_LE) or data.startswith(codecs.BOM_UTF16_BE):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")  # also strips a UTF-8 byte order mark
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise CatalogFileError(
            f"the file is not UTF-8 text (undecodable byte 0x{data[exc.start]:02x} on line "
            f"{line}); re-save it as UTF-8 (in Excel: 'CSV UTF-8') and upload it again"
        ) from None


def read_catalog_bytes(data: bytes, max_bytes: int) -> bytes:
    """Un-gzip if needed, enforcing the size limit on the uncompressed data too."""
    if data[:2] == b"\x1f\x8b":
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as gz:
                out = gz.read(max_bytes + 1)
        except (OSError, EOFError) as exc:
            raise CatalogFileError(
                f"the file looks gzipped but cannot be unpacked: {exc}"
            ) from None
        data = out
    _check_size(len(data), max_bytes)
    return data


def _check_size(size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise CatalogFileError(
            f"the catalog is larger than the {max_bytes // (1024 * 1024)} MB limit "
            "(DONA_MAX_UPLOAD_MB); split it or raise the limit"
        )


def detect_format(text: str, filename: str | None) -> str:
    name = (filename or "").lower().removesuffix(".gz")
    if name.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    if name.endswith(".json"):
        return (
            "json"
            if text.lstrip().startswith(("[", "{")) and not _looks_like_jsonl(text)
            else ("jsonl")
        )
    if name.endswith((".csv", ".tsv", ".txt")):
        return "csv"
    head = text.lstrip()
    if head.startswith("["):
        return "json"
    if head.startswith("{"):
        return "jsonl" if _looks_like_jsonl(text) else "json"
    return "csv"


def _looks_like_jsonl(text: str) -> bool:
    first = text.lstrip().split("\n", 1)[0].strip()
    if not first.startswith("{"):
        return False
    try:
        json.loads(first)
    except json.JSONDecodeError:
        return False
    return "\n" in text.strip()


def _iter_csv(text: str) -> tuple[list[str], Iterator[tuple[int, dict[str, Any] | str]]]:
    sample = text[:64_000]
    try:
        dialect = csv.Sniffer().sniff(sample.split("\n", 1)[0], delimiters=",;\t|")
        delimiter = dialect.delimiter
    except csv.Error:
        delimiter = ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise CatalogFileError("the file is empty; upload a catalog with a header row") from None
    except csv.Error as exc:
        raise CatalogFileError(f"the CSV header cannot be read: {exc}") from None
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


def _iter_json(text: str) -> tuple[list[str], Iterator[tuple[int, dict[str, Any] | str]]]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CatalogFileError(
            f"the JSON cannot be parsed (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    if isinstance(doc, dict):
        lists = [v for v in doc.values() if isinstance(v, list)]
        if len(lists) != 1:
            raise CatalogFileError(
                "the JSON is an object, not a list of products; upload a JSON array of "
                'products or an object like {"products": [...]}'
            )
        doc = lists[0]
    if not isinstance(doc, list):
        raise CatalogFileError("the JSON must be an array of product objects")
    columns = _union_keys(item for item in doc if isinstance(item, dict))

    def rows() -> Iterator[tuple[int, dict[str, Any] | str]]:
        for number, item in enumerate(doc, start=1):
            yield number, item if isinstance(item, dict) else "is not a JSON object"

    return columns, rows()


def _iter_jsonl(text: str) -> tuple[list[str], Iterator[tuple[int, dict[str, Any] | str]]]:
    parsed: list[tuple[int, dict[str, Any] | str]] = []
    # split on "\n" only: str.splitlines() also splits on U+2028 etc. inside JSON strings
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            parsed.append((number, f"invalid JSON ({exc.msg} at column {exc.colno})"))
            continue
        parsed.append((number, item if isinstance(item, dict) else "is not a JSON object"))
    columns = _union_keys(item for _, item in parsed if isinstance(item, dict))
    return columns, iter(parsed)


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


def _iter_xlsx(
    data: bytes, max_bytes: int
) -> tuple[list[str], Iterator[tuple[int, dict[str, Any] | str]]]:
    """The first sheet of a workbook: row 1 is the header; row numbers are Excel's."""
    _check_size(len(data), max_bytes)
    import openpyxl

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        sheet = book.worksheets[0]
        rows = sheet.iter_rows(values_only=True)
        header = next(rows, None)
    except Exception as exc:  # a damaged or password-protected workbook
        raise CatalogFileError(
            f"the spreadsheet cannot be read ({type(exc).__name__}); save it again as .xlsx "
            "or export it as CSV UTF-8"
        ) from None
    if header is None or not any(c is not None for c in header):
        raise CatalogFileError("the first sheet is empty; put the header in row 1")
    columns = [_cell_text(c) or "" for c in header]
    while columns and not columns[-1]:
        columns.pop()

    def items() -> Iterator[tuple[int, dict[str, Any] | str]]:
        for number, values in enumerate(rows, start=2):
            if not any(v is not None and str(v).strip() for v in values):
                continue  # blank rows between products are layout, not data
            yield (
                number,
                {c: _cell_text(v) for c, v in zip(columns, values, strict=False) if c},
            )
        book.close()

    return [c for c in columns if c], items()


def _read_rows(
    data: bytes, filename: str | None, max_bytes: int
) -> tuple[str, list[str], Iterator[tuple[int, dict[str, Any] | str]]]:
    """(format, columns, numbered rows) of any supported file."""
    if _is_xlsx(data):
        return "xlsx", *_iter_xlsx(data, max_bytes)
    if data[:4] == XLS_MAGIC:
        raise CatalogFileError(
            "this is an old .xls spreadsheet; save it as .xlsx or export it as CSV UTF-8"
        )
    text = catalog_text(data, max_bytes)
    fmt = detect_format(text, filename)
    reader = {"csv": _iter_csv, "json": _iter_json, "jsonl": _iter_jsonl}[fmt]
    return fmt, *reader(text)


def _union_keys(items: Iterator[dict[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for item in items:
        for key in item:
            seen.setdefault(key, None)
    return list(seen)


# ---------------------------------------------------------------------------------------
# values


# Real tags only ("<p>", "</b>", "<br/>", comments), so "size < 5 > 3" survives.
_TAG_RE = re.compile(r"<(?:/?[A-Za-z][^<>]*|!--.*?--)>", re.S)
_SPACE_RE = re.compile(r"\s+")


def _clean_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, list | dict):
        value = json.dumps(value, ensure_ascii=False)
    # HTML bodies (Shopify) become plain text. Decode entities *before* stripping tags, so
    # "&lt;script&gt;" cannot turn into markup after the strip.
    text = html.unescape(str(value))
    if "<" in text:
        text = _TAG_RE.sub(" ", text)
    text = _SPACE_RE.sub(" ", text).strip()
    return text or None


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


_TRUE = {"true", "yes", "y", "in stock", "instock", "in_stock", "available", "1"}
_FALSE = {"false", "no", "n", "out of stock", "outofstock", "out_of_stock", "sold out", "0"}


def parse_stock(value: Any) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        return 1 if value else 0
    if isinstance(value, int | float):
        return max(int(value), 0)
    text = str(value).strip().lower()
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


def _row_to_product(
    raw: dict[str, Any], mapping: dict[str, str], options: ParseOptions
) -> tuple[Product | None, str | None]:
    """Returns (product, None) or (None, reason)."""

    def get(canonical: str) -> Any:
        col = mapping.get(canonical)
        return raw.get(col) if col else None

    product_id = _normalise_id(get("id"))
    title = _clean_text(get("title"))
    if not product_id and not title:
        return None, "missing id and title"
    if not product_id:
        return None, "missing id"
    if not title:
        return None, "missing title"
    if len(product_id) > MAX_ID_CHARS:
        return None, f"id is {len(product_id)} characters long (limit {MAX_ID_CHARS})"
    if len(title) > MAX_TITLE_CHARS:
        return None, f"title is {len(title)} characters long (limit {MAX_TITLE_CHARS})"

    description = _clean_text(get("description"))
    if description and len(description) > MAX_TEXT_CHARS:
        return None, f"description is {len(description)} characters long (limit {MAX_TEXT_CHARS})"

    currency = (_clean_text(get("currency")) or options.default_currency).upper()
    if not re.fullmatch(r"[A-Z]{3}", currency):
        return None, f"currency {currency[:20]!r} is not a 3-letter ISO code"
    try:
        if mapping.get("price_minor") and get("price_minor") not in (None, ""):
            price_minor = int(Decimal(str(get("price_minor")).strip()))
            if price_minor < 0:
                raise ValueError(f"negative price {get('price_minor')!r}")
            symbol_currency = None
        elif options.prices_in_minor_units and get("price") not in (None, ""):
            price_minor = int(Decimal(str(get("price")).strip()))
            if price_minor < 0:
                raise ValueError(f"negative price {get('price')!r}")
            symbol_currency = None
        else:
            price_minor, symbol_currency = parse_price(get("price"), currency)
    except (ValueError, InvalidOperation) as exc:
        reason = str(exc) if isinstance(exc, ValueError) else "unparseable price"
        return None, reason
    if symbol_currency:
        currency = symbol_currency

    try:
        stock = parse_stock(get("stock"))
    except ValueError as exc:
        return None, str(exc)

    url = _clean_text(get("url"))
    image_url = _clean_text(get("image_url"))
    for name, value in (("url", url), ("image_url", image_url)):
        if value and len(value) > MAX_URL_CHARS:
            return None, f"{name} is {len(value)} characters long (limit {MAX_URL_CHARS})"
    if image_url and not image_url.startswith(("http://", "https://", "/")):
        image_url = None  # a relative or data: URL cannot be shown safely; placeholder instead

    used = set(mapping.values())
    attributes: dict[str, Any] = {}
    for key, value in raw.items():
        if key in used or value is None or value == "" or value == []:
            continue
        if isinstance(value, str) and len(value) > MAX_ATTRIBUTE_CHARS:
            return (
                None,
                f"field {key!r} is {len(value)} characters long (limit {MAX_ATTRIBUTE_CHARS})",
            )
        attributes[key] = value

    return (
        Product(
            id=product_id,
            title=title,
            brand=_clean_text(get("brand")),
            description=description,
            price_minor=price_minor,
            currency=currency,
            category=_clean_text(get("category")),
            url=url,
            image_url=image_url,
            stock=stock,
            attributes=attributes,
        ),
        None,
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
            try:
                if raw.get(price_col) and (
                    not first.get(price_col) or Decimal(raw[price_col]) < Decimal(first[price_col])
                ):
                    first[price_col] = raw[price_col]
                if qty_col and raw.get(qty_col):
                    first[qty_col] = str(int(first.get(qty_col) or 0) + int(raw[qty_col]))
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
            f"(columns found: {shown}). Name the columns ({wanted})."
        )

    products: list[Product] = []
    problems: list[RowProblem] = []
    first_row_of: dict[str, int] = {}
    total = 0
    for line, raw in rows:
        total += 1
        if isinstance(raw, str):
            problems.append(RowProblem(line, raw))
            continue
        product, reason = _row_to_product(raw, mapping, options)
        if product is None:
            ident = _normalise_id(raw.get(mapping["id"]))
            problems.append(RowProblem(line, reason or "invalid", ident[:60] if ident else None))
            continue
        if product.id in first_row_of:
            problems.append(
                RowProblem(
                    line, f"duplicate id (first seen on row {first_row_of[product.id]})", product.id
                )
            )
            continue
        first_row_of[product.id] = line
        products.append(product)
    if total == 0:
        raise CatalogFileError("the file has a header but no products")
    return ParseResult(products, problems, total, fmt, mapping)


def parse_catalog_file(path: str | Path, options: ParseOptions | None = None) -> ParseResult:
    path = Path(path)
    if not path.exists():
        raise CatalogFileError(f"no such file: {path}")
    if path.is_dir():
        raise CatalogFileError(f"{path} is a folder; give the catalog file inside it")
    options = options or ParseOptions()
    size = path.stat().st_size
    if size > options.max_bytes:
        raise CatalogFileError(
            f"{path.name} is {size // (1024 * 1024)} MB, over the "
            f"{options.max_bytes // (1024 * 1024)} MB limit (DONA_MAX_UPLOAD_MB)"
        )
    return parse_catalog(path.read_bytes(), path.name, options)
