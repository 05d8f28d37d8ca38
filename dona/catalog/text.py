"""The product text recipe: what the embedder and BM25 read for each product.

One function, so that the index, the cache key and the evaluation all agree. The recipe is
versioned in the index manifest; changing it invalidates nothing silently.
"""

from __future__ import annotations

import unicodedata

from dona.catalog.product import Product

TEXT_RECIPE = "title+brand+category+description/v1"
MAX_DESCRIPTION_CHARS = 300  # the model reads ~128 tokens; a longer tail only costs time


def product_text(product: Product) -> str:
    """Title first (it carries the most signal and survives truncation), then brand,
    category and the start of the description, separated by '. '."""
    parts = [product.title]
    if product.brand and product.brand.lower() not in product.title.lower():
        parts.append(product.brand)
    if product.category:
        parts.append(product.category)
    if product.description:
        description = product.description
        if len(description) > MAX_DESCRIPTION_CHARS:
            description = description[:MAX_DESCRIPTION_CHARS].rsplit(" ", 1)[0]
        parts.append(description)
    return ". ".join(parts)


def fold_accents(text: str) -> str:
    """ "Lámpara" -> "Lampara": decompose, drop the combining marks (ñ becomes n too)."""
    if text.isascii():
        return text
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
