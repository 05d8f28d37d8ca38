"""A validated product and the currency facts its price needs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Currencies whose minor unit is not 1/100 (ISO 4217); everything else uses 2 decimals.
_MINOR_UNIT_EXPONENT = {"JPY": 0, "KRW": 0, "CLP": 0, "ISK": 0, "VND": 0, "BHD": 3, "KWD": 3}


def minor_unit_exponent(currency: str) -> int:
    return _MINOR_UNIT_EXPONENT.get(currency.upper(), 2)


@dataclass
class Product:
    """A validated product. Prices are integers in the currency's minor unit (cents)."""

    id: str
    title: str
    brand: str | None = None
    description: str | None = None
    price_minor: int | None = None
    currency: str | None = None
    category: str | None = None
    url: str | None = None
    image_url: str | None = None
    stock: int | None = None
    attributes: dict[str, Any] = field(default_factory=dict)

    @property
    def price(self) -> float | None:
        """Price in major units (12.95), or None."""
        if self.price_minor is None:
            return None
        return self.price_minor / 10 ** minor_unit_exponent(self.currency or "USD")
