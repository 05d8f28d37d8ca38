"""A merchant's catalog: the `Product` record, reading catalog files into products, and
the text recipe the indexes read for each product."""

from dona.catalog.names import check_catalog_name
from dona.catalog.parse import (
    PRODUCT_FIELDS,
    ParseOptions,
    ParseResult,
    map_columns,
    parse_catalog,
    parse_catalog_file,
    preview_rows,
)
from dona.catalog.product import Product, minor_unit_exponent
from dona.catalog.text import TEXT_RECIPE, product_text

__all__ = [
    "PRODUCT_FIELDS",
    "TEXT_RECIPE",
    "ParseOptions",
    "ParseResult",
    "Product",
    "check_catalog_name",
    "map_columns",
    "minor_unit_exponent",
    "parse_catalog",
    "parse_catalog_file",
    "preview_rows",
    "product_text",
]
