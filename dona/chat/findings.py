"""What DONA computes before a model writes a word: which products meet the request, which
have the asked features, the cheapest, the price difference between two, that nothing fits.

`Findings` holds those facts; `facts_block` renders them for the model (short lines, in
the shopper's language) and `answer_text` renders them as the extractive answer, which is
also what replaces a model's wording that fails the checks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from dona.catalog import Product
from dona.chat.vocabulary import Feature, Quantity, product_data
from dona.formatting import format_price, shopper_specs

MODEL_TITLE_CHARS = 70  # a long catalog title, cut for the model (the card shows it whole)


def short_title(title: str, limit: int = MODEL_TITLE_CHARS) -> str:
    """The title without control characters, cut at a word boundary."""
    title = " ".join(re.sub(r"[\x00-\x1f\x7f<>\[\]{}|]", " ", title).split())
    if len(title) <= limit:
        return title
    cut = title[:limit].rsplit(" ", 1)[0]
    return re.sub(r"[\s,;:(/-]+$", "", cut)


@dataclass
class Item:
    """One product the model is told about, cited as [label]."""

    product: Product
    label: int
    checks: list[tuple[Feature | Quantity, bool | None]] = field(default_factory=list)
    specs: list[tuple[str, str]] = field(default_factory=list)  # when asked about it


@dataclass
class Findings:
    language: str
    request: str  # the request in the shopper's words ("auriculares con bluetooth ...")
    status: str  # "match", "nothing" (alternatives), "about" (shown products), "empty"
    items: list[Item] = field(default_factory=list)
    cheapest: int | None = None  # label of the cheapest item, when it matters
    priciest: int | None = None
    order: str | None = None  # the shopper asked for the cheapest / priciest
    difference: float | None = None  # price gap between two compared items
    reason: str = ""  # why nothing fits, in words
    nearest: str = ""  # nothing fits: what comes closest ("the cheapest costs $11.95")
    asks: str | None = None  # "price" / "brand": what the shopper wants to know
    named: bool = False  # the first item is the product the shopper named

    @property
    def labels(self) -> dict[str, str]:
        return {str(i.label): i.product.id for i in self.items}

    @property
    def currency(self) -> str | None:
        return self.items[0].product.currency if self.items else None

    def prices(self) -> list[float]:
        """Every amount the answer may state: prices and the computed difference."""
        found = [i.product.price for i in self.items if i.product.price is not None]
        return found + ([self.difference] if self.difference is not None else [])

    def denial_allowed(self) -> bool:
        """May the answer say "no"? Only when nothing fits, or a shown product lacks an
        asked feature."""
        if self.status in ("nothing", "empty"):
            return True
        if self.status != "about":  # a list that meets the request is never "nothing"
            return False
        return any(status is not True for item in self.items for _, status in item.checks)


def price_of(product: Product) -> str:
    if product.price is None:
        return "?"
    return format_price(product.price, product.currency)


def feature_checks(product: Product, wanted: tuple[Feature | Quantity, ...]):
    data = product_data(product)
    return [(f, f.has(data)) for f in wanted]


_WORDS = {
    "en": {
        "yes": "yes", "no": "no", "unsaid": "not stated", "cheapest": "cheapest",
        "priciest": "most expensive", "meets": "All of them are {request}.",
        "cheapest_is": "The cheapest is [{label}].", "priciest_is": "The most expensive is [{label}].",
        "nothing": "I found no {request} in the catalog{reason}.",
        "alternatives": "Closest alternatives: {labels}.",
        "diff": "[{a}] is {amount} cheaper than [{b}].", "same": "[{a}] and [{b}] cost the same.",
        "answer": "Answer in English.",
        "empty": "I could not find anything matching that in the catalog.",
        "intro": "We have {request}:", "intro_any": "Here is what I found for {request}:",
        "costs_line": "The {title} costs {price} [{id}].",
        "brand_line": "The {title} is made by {brand} [{id}]; it costs {price}.",
        "brand_is": "Brand of [{label}]: {brand}.", "named_is": "[1] is the product asked about.",
        "closest": "The closest alternatives:", "others": "Also:",
        "only_shop": "I can only help with products from this shop's catalog. What are you "
        "looking for?",
        "cheapest_line": "The cheapest is the {title} ({price}).",
        "priciest_line": "The most expensive is the {title} ({price}).",
        "has": "has {feature}", "lacks": "does not have {feature}",
        "unsaid_line": "the catalog does not say whether it has {feature}",
        "costs": "costs", "the": "The", "diff_line": "The {a} is {amount} cheaper than the {b}.",
        "same_line": "Both cost the same.",
    },
    "es": {
        "yes": "sí", "no": "no", "unsaid": "no lo indica", "cheapest": "el más barato",
        "priciest": "el más caro", "meets": "Todos son {request}.",
        "cheapest_is": "El más barato es [{label}].", "priciest_is": "El más caro es [{label}].",
        "nothing": "No encontré {request} en el catálogo{reason}.",
        "alternatives": "Alternativas más cercanas: {labels}.",
        "diff": "[{a}] cuesta {amount} menos que [{b}].", "same": "[{a}] y [{b}] cuestan lo mismo.",
        "answer": "Responde en español.",
        "empty": "No encontré nada parecido en el catálogo.",
        "intro": "Tengo {request}:", "intro_any": "Esto encontré para {request}:",
        "costs_line": "El {title} cuesta {price} [{id}].",
        "brand_line": "El {title} es de la marca {brand} [{id}]; cuesta {price}.",
        "brand_is": "Marca de [{label}]: {brand}.", "named_is": "[1] es el producto preguntado.",
        "closest": "Las alternativas más cercanas:", "others": "También:",
        "only_shop": "Solo puedo ayudarte con productos del catálogo. ¿Qué estás buscando?",
        "cheapest_line": "El más barato es el {title} ({price}).",
        "priciest_line": "El más caro es el {title} ({price}).",
        "has": "tiene {feature}", "lacks": "no tiene {feature}",
        "unsaid_line": "el catálogo no indica si tiene {feature}",
        "costs": "cuesta", "the": "El", "diff_line": "El {a} cuesta {amount} menos que el {b}.",
        "same_line": "Los dos cuestan lo mismo.",
    },
}  # fmt: skip


def words(language: str) -> dict[str, str]:
    return _WORDS.get(language, _WORDS["en"])


def _feature_name(feature: Feature | Quantity, language: str) -> str:
    return feature.es if language == "es" else feature.name


def _status(status: bool | None, language: str) -> str:
    w = words(language)
    return w["yes"] if status else (w["unsaid"] if status is None else w["no"])


def facts_block(findings: Findings) -> str:
    """The facts as the model reads them: one short line per product, then the computed
    conclusions, in the shopper's language. Catalog text here is data (cleaned, cut)."""
    w = words(findings.language)
    lines = []
    for item in findings.items:
        parts = [short_title(item.product.title), price_of(item.product)]
        if item.product.brand and item.product.brand.lower() not in item.product.title.lower():
            parts.insert(1, short_title(item.product.brand, 40))
        parts += [
            f"{_feature_name(f, findings.language)}: {_status(s, findings.language)}"
            for f, s in item.checks
        ]
        parts += [f"{label}: {value}" for label, value in item.specs]
        lines.append(f"[{item.label}] " + " | ".join(parts))
    labels = ", ".join(f"[{i.label}]" for i in findings.items)
    if findings.status == "match" and findings.request:
        lines.append(w["meets"].format(request=findings.request))
    if findings.named:
        lines.append(w["named_is"])
    if findings.asks == "brand" and findings.items and findings.items[0].product.brand:
        brand = short_title(findings.items[0].product.brand, 40)
        lines.append(w["brand_is"].format(label=1, brand=brand))
    if findings.status == "nothing":
        lines.append(w["nothing"].format(request=findings.request, reason=findings.reason))
        if findings.nearest:
            lines.append(findings.nearest)
        if findings.items:
            lines.append(w["alternatives"].format(labels=labels))
    if findings.cheapest is not None and (findings.order != "priciest"):
        lines.append(w["cheapest_is"].format(label=findings.cheapest))
    if findings.priciest is not None and findings.order == "priciest":
        lines.append(w["priciest_is"].format(label=findings.priciest))
    if findings.difference is not None and len(findings.items) >= 2:
        a, b = sorted(findings.items[:2], key=lambda i: i.product.price or 0)
        if findings.difference > 0:
            amount = format_price(findings.difference, a.product.currency)
            lines.append(w["diff"].format(a=a.label, b=b.label, amount=amount))
        else:
            lines.append(w["same"].format(a=a.label, b=b.label))
    if not findings.items:
        lines.append(w["empty"])
    return "\n".join(lines)


def _name(product: Product) -> str:
    brand = product.brand or ""
    title = short_title(product.title, 90)
    if brand and not title.lower().startswith(brand.lower()):
        title = f"{short_title(brand, 40)} {title}"
    return title


def answer_text(findings: Findings) -> str:
    """The extractive answer: the findings in plain words, products cited as [id]."""
    lang = findings.language
    w = words(lang)
    if not findings.items:
        return w["empty"]
    lines: list[str] = []
    if findings.status == "about":
        for item in findings.items:
            p = item.product
            said = [f"{w['the']} {_name(p)} {w['costs']} {price_of(p)} [{p.id}]"]
            for feature, status in item.checks:
                name = _feature_name(feature, lang)
                key = "has" if status else ("unsaid_line" if status is None else "lacks")
                said.append(w[key].format(feature=name))
            if not item.checks and item.specs:
                said.append("; ".join(f"{k}: {v}" for k, v in item.specs[:4]))
            lines.append(("; " if lang == "en" else "; ").join(said) + ".")
        if findings.difference is not None and len(findings.items) >= 2:
            a, b = sorted(findings.items[:2], key=lambda i: i.product.price or 0)
            if findings.difference > 0:
                amount = format_price(findings.difference, a.product.currency)
                lines.append(
                    w["diff_line"].format(
                        a=short_title(a.product.title, 50),
                        b=short_title(b.product.title, 50),
                        amount=amount,
                    )
                )
            else:
                lines.append(w["same_line"])
        return "\n".join(lines)
    if findings.status == "nothing":
        lines.append(w["nothing"].format(request=findings.request, reason=findings.reason))
        if findings.nearest:
            lines.append(findings.nearest)
        lines.append(w["closest"])
    elif findings.named or findings.asks == "brand" or (findings.asks and len(findings.items) == 1):
        p = findings.items[0].product
        title, price = short_title(p.title, 90), price_of(p)
        if findings.asks == "brand" and p.brand:
            line = w["brand_line"].format(title=title, brand=p.brand, price=price, id=p.id)
        else:
            line = w["costs_line"].format(title=title, price=price, id=p.id)
        lines.append(line)
        if len(findings.items) == 1:
            return line
        lines.append(w["others"])
        for item in findings.items[1:]:
            lines.append(f"- {_name(item.product)}, {price_of(item.product)} [{item.product.id}]")
        return "\n".join(lines)
    else:
        quoted = findings.request.startswith('"')
        key = "intro_any" if quoted else "intro"
        lines.append(w[key].format(request=findings.request or "").replace(" :", ":"))
    for item in findings.items:
        p = item.product
        lines.append(f"- {_name(p)}, {price_of(p)} [{p.id}]")
    extreme = findings.priciest if findings.order == "priciest" else findings.cheapest
    if findings.status == "match" and extreme is not None and len(findings.items) > 1:
        item = next(i for i in findings.items if i.label == extreme)
        key = "priciest_line" if findings.order == "priciest" else "cheapest_line"
        lines.append(
            w[key].format(title=short_title(item.product.title, 60), price=price_of(item.product))
        )
    return "\n".join(lines)


def product_specs(product: Product, limit: int = 6) -> list[tuple[str, str]]:
    """A few specs a shopper chooses by, short, for a product asked about."""
    out = []
    for label, value in shopper_specs(product.attributes, limit=limit * 2):
        if len(out) >= limit:
            break
        out.append((short_title(label, 30), short_title(value, 40)))
    return out
