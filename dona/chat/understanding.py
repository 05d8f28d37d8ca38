"""Understanding a shopper's turn with rules (no model): language, price limits, brands,
references to products already shown and follow-ups.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from dona.formatting import format_price
from dona.search import Filters, clean_query

# ---- language ---------------------------------------------------------------------------


def _words(text: str) -> set[str]:
    return set(text.split())


_ES_WORDS = _words(
    """el la los las un una unos unas de del que qué para por con sin hay tienes tiene
    tienen busco quiero necesito cuánto cuanto cuesta precio menos más mas barato baratos
    barata baratas algo alguno alguna y o es son este esta ese esa cuál cual cuáles me mi
    puedo dónde donde también tambien segundo primero tercero último ultimo euros dólares
    dolares hola gracias sí"""
)
_EN_WORDS = _words(
    """the a an of for with without is are do does have has any some what which how much
    cheap cheaper under below than i me my need want looking find show it one ones this
    that those second first third last dollars price hello thanks"""
)


def detect_language(text: str) -> str:
    """'es' or 'en': Spanish punctuation and accents, then function-word counts."""
    if re.search(r"[¿¡ñ]", text.lower()):
        return "es"
    words = re.findall(r"[a-záéíóúüñ]+", text.lower())
    es = sum(w in _ES_WORDS for w in words) + sum(bool(re.search(r"[áéíóú]", w)) for w in words)
    en = sum(w in _EN_WORDS for w in words)
    return "es" if es > en else "en"


LANGUAGE_NAMES = {"en": "English", "es": "Spanish (español)"}

# Spanish shop vocabulary -> English catalog terms (rules first; the catalog is English).
_ES_TO_EN = {
    "altavoz": "speaker", "altavoces": "speakers", "auriculares": "headphones",
    "cascos": "headphones", "ratón": "mouse", "raton": "mouse", "ratones": "mouse",
    "teclado": "keyboard", "teclados": "keyboards", "portátil": "laptop",
    "portatil": "laptop", "portátiles": "laptops", "ordenador": "computer",
    "impresora": "printer", "impresoras": "printers", "tinta": "ink", "cartucho": "cartridge",
    "cartuchos": "cartridges", "tóner": "toner", "pantalla": "screen", "monitor": "monitor",
    "cámara": "camera", "camara": "camera", "cámaras": "cameras", "batería": "battery",
    "bateria": "battery", "baterías": "batteries", "pilas": "batteries", "cargador": "charger",
    "cable": "cable", "cables": "cables", "funda": "case", "fundas": "cases", "bolsa": "bag",
    "mochila": "backpack", "disco": "disk", "duro": "hard drive", "memoria": "memory",
    "tarjeta": "card", "inalámbrico": "wireless", "inalambrico": "wireless",
    "inalámbricos": "wireless", "inalámbrica": "wireless", "negro": "black", "negra": "black",
    "blanco": "white", "blanca": "white", "rojo": "red", "azul": "blue", "gris": "grey",
    "papel": "paper", "grapadora": "stapler", "bolígrafo": "pen", "boligrafo": "pen",
    "bolígrafos": "pens", "lápiz": "pencil", "carpeta": "folder", "carpetas": "folders",
    "calculadora": "calculator", "proyector": "projector", "televisor": "tv",
    "televisión": "tv", "móvil": "phone", "movil": "phone", "teléfono": "phone",
    "telefono": "phone", "reloj": "watch", "router": "router", "enrutador": "router",
    "escáner": "scanner", "escaner": "scanner", "micrófono": "microphone",
    "microfono": "microphone", "silla": "chair", "mesa": "desk", "lámpara": "lamp",
    "adaptador": "adapter", "conmutador": "switch", "servidor": "server", "juego": "game",
    "consola": "console", "sobremesa": "desktop", "tableta": "tablet", "altavoz bluetooth":
    "bluetooth speaker", "ventilador": "fan", "procesador": "processor", "etiquetas": "labels",
    "etiquetadora": "label printer", "sobres": "envelopes", "cuaderno": "notebook",
}  # fmt: skip

_STOP = (
    _ES_WORDS
    | _EN_WORDS
    | _words(
        """please can could would you your we us our there here about tell know get got
    looking search show give recommend suggest something anything good best buy
    por favor podrías podrias recomiendas recomienda dame muestra enséñame ensename
    quiero necesito busco alguna algún algun tenéis teneis ofrece ofreces cosa
    from more details info detalles información informacion"""
    )
)

# ---- understanding ----------------------------------------------------------------------

NUMBER = r"(\d{1,3}(?:[.,]\d{3})+(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})?)"
_CURRENCY = r"(?:\$|€|£|usd|eur|dollars?|d[oó]lares|euros?|bucks)"
_MONEY = rf"(?:{_CURRENCY}\s*)?{NUMBER}(?:\s*{_CURRENCY})?"
_MAX_WORDS = (
    r"under|below|less than|cheaper than|at most|max(?:imum)?|up to|no more than|within|"
    r"menos de|por debajo de|hasta|como m[aá]ximo|m[aá]ximo|que no pase de|inferior a|<=?"
)
_MIN_WORDS = (
    r"over|above|more than|at least|min(?:imum)?|from|starting at|"
    r"m[aá]s de|por encima de|desde|como m[ií]nimo|m[ií]nimo|superior a|>=?"
)
_BETWEEN = re.compile(rf"\b(?:between|entre)\s+{_MONEY}\s+(?:and|y|-)\s+{_MONEY}", re.I)
_MAX = re.compile(rf"(?:^|\s|\b)(?:{_MAX_WORDS})\s*{_MONEY}", re.I)
_MIN = re.compile(rf"(?:^|\s|\b)(?:{_MIN_WORDS})\s*{_MONEY}", re.I)

_CHEAPER = re.compile(
    r"\b(cheaper|less expensive|more affordable|lower price|m[aá]s barat[oa]s?|"
    r"m[aá]s econ[oó]mic[oa]s?|menos car[oa]s?)\b",
    re.I,
)
_ORDINALS = {
    "first": 0, "1st": 0, "primero": 0, "primer": 0, "primera": 0,
    "second": 1, "2nd": 1, "segundo": 1, "segunda": 1,
    "third": 2, "3rd": 2, "tercero": 2, "tercer": 2, "tercera": 2,
    "fourth": 3, "4th": 3, "cuarto": 3, "cuarta": 3,
    "fifth": 4, "5th": 4, "quinto": 4, "quinta": 4,
    "last": -1, "último": -1, "ultimo": -1, "última": -1, "ultima": -1,
}  # fmt: skip
_ORDINAL = re.compile(
    r"\b(" + "|".join(sorted(map(re.escape, _ORDINALS), key=len, reverse=True)) + r")\b"
    r"|(?:#|number |n[uú]mero |no\. ?)(\d)\b",
    re.I,
)
_PRONOUN = re.compile(
    r"\b(it|that one|this one|that|this|them|those|these|they|ese|esa|este|esta|"
    r"eso|esto|ellos|estos|esos|estas|esas)\b",
    re.I,
)


def parse_amount(text: str) -> float | None:
    """'1,299.99' / '1.299,99' / '49,90' / '50' -> float."""
    text = text.strip()
    if re.fullmatch(r"\d{1,3}(?:[.,]\d{3})+", text):  # thousands separators only
        return float(re.sub(r"[.,]", "", text))
    if re.fullmatch(r"\d{1,3}(?:\.\d{3})+,\d{1,2}", text):  # 1.299,99
        return float(text.replace(".", "").replace(",", "."))
    if re.fullmatch(r"\d{1,3}(?:,\d{3})+\.\d{1,2}", text):  # 1,299.99
        return float(text.replace(",", ""))
    try:
        return float(text.replace(",", "."))
    except ValueError:
        return None


@dataclass
class Understanding:
    """What the rules made of one question."""

    language: str
    search_text: str  # what goes to the hybrid search (English terms, no price phrases)
    min_price: float | None = None
    max_price: float | None = None
    brands: tuple[str, ...] = ()
    references: list[int] = field(default_factory=list)  # indices into the shown products
    cheaper: bool = False
    follow_up: bool = False  # the topic comes from the previous turn

    @property
    def filters(self) -> Filters:
        return Filters(min_price=self.min_price, max_price=self.max_price, brands=self.brands)

    def constraint(self, currency: str | None) -> str:
        """The shopper's limits in words, for "nothing fits" answers."""
        es = self.language == "es"
        bits = []
        if self.brands:
            bits.append(("de " if es else "from ") + ", ".join(self.brands))
        if self.min_price is not None and self.max_price is not None:
            low, high = (
                format_price(self.min_price, currency),
                format_price(self.max_price, currency),
            )
            bits.append(f"entre {low} y {high}" if es else f"between {low} and {high}")
        elif self.max_price is not None:
            bits.append(
                ("por menos de " if es else "under ") + format_price(self.max_price, currency)
            )
        elif self.min_price is not None:
            bits.append(("por más de " if es else "over ") + format_price(self.min_price, currency))
        topic = self.search_text
        return " ".join([f'"{topic}"', *bits]) if topic else " ".join(bits) or "that"


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def compile_brand_pattern(brands: list[str]) -> re.Pattern[str] | None:
    names = sorted({b for b in brands if len(b.strip()) >= 2}, key=len, reverse=True)
    if not names:
        return None
    alternatives = "|".join(re.escape(_fold(b)) for b in names)
    return re.compile(rf"(?<![\w-])({alternatives})(?![\w-])")


def understand(
    question: str,
    brands: list[str],
    previous: Understanding | None = None,
    shown: int = 0,
    brand_pattern: re.Pattern[str] | None = None,
) -> Understanding:
    """Rules only: fast, predictable, testable. `shown`: products in the previous answer."""
    text = clean_query(question)
    language = detect_language(text)
    rest = text
    min_price = max_price = None
    if m := _BETWEEN.search(rest):
        low, high = parse_amount(m.group(1)), parse_amount(m.group(2))
        if low is not None and high is not None:
            min_price, max_price = min(low, high), max(low, high)
        rest = rest.replace(m.group(0), " ")
    if max_price is None and (m := _MAX.search(rest)):
        max_price = parse_amount(m.group(1))
        rest = rest.replace(m.group(0), " ")
    if min_price is None and (m := _MIN.search(rest)):
        min_price = parse_amount(m.group(1))
        rest = rest.replace(m.group(0), " ")

    folded = _fold(rest)
    pattern = brand_pattern or compile_brand_pattern(brands)
    found_brands: list[str] = []
    if pattern is not None:
        by_fold = {_fold(b): b for b in brands}
        for m in pattern.finditer(folded):
            name = by_fold.get(m.group(1))
            if name and name not in found_brands:
                found_brands.append(name)

    references: list[int] = []
    if shown:
        for m in _ORDINAL.finditer(folded):
            index = _ORDINALS[m.group(1).lower()] if m.group(1) else int(m.group(2)) - 1
            index = index if index >= 0 else shown + index
            if 0 <= index < shown and index not in references:
                references.append(index)
    cheaper = bool(_CHEAPER.search(folded))
    if cheaper:
        folded = _CHEAPER.sub(" ", folded)

    words = re.findall(r"[\w][\w.+-]*", _ORDINAL.sub(" ", folded))
    terms: list[str] = []
    for word in words:
        if word in _STOP or (word.isdigit() and len(word) < 2):
            continue
        if language == "es" and word in _ES_TO_EN:
            word = _ES_TO_EN[word]
        terms.append(word)
    # "is it waterproof?": a pronoun and at most a couple of new words, no new limits,
    # points back at the top product shown
    if (
        shown
        and not references
        and len(terms) <= 2
        and _PRONOUN.search(folded)
        and min_price is None
        and max_price is None
        and not found_brands
        and not cheaper
    ):
        references = [0]
    search_text = " ".join(terms)
    follow_up = False
    brand_words = {w for b in found_brands for w in _fold(b).split()}
    only_constraints = not [t for t in terms if t not in brand_words]
    if previous is not None and (only_constraints or cheaper) and not references:
        follow_up = True  # "cheaper ones?", "¿y de Sony?", "under 30?": same topic
        search_text = " ".join(
            [previous.search_text, *[t for t in terms if t not in previous.search_text]]
        ).strip()
        if min_price is None and max_price is None and not cheaper:
            min_price, max_price = previous.min_price, previous.max_price
        if not found_brands and previous.brands:
            found_brands = list(previous.brands)
    return Understanding(
        language=language,
        search_text=search_text,
        min_price=min_price,
        max_price=max_price,
        brands=tuple(found_brands),
        references=references,
        cheaper=cheaper,
        follow_up=follow_up,
    )


def apply_limits(intent: Understanding, limits: Filters) -> None:
    """Narrow what was understood to the shopper's standing filters."""
    if limits.min_price is not None:
        intent.min_price = max(limits.min_price, intent.min_price or 0.0)
    if limits.max_price is not None:
        intent.max_price = min(limits.max_price, intent.max_price or limits.max_price)
    if intent.min_price is not None and intent.max_price is not None:
        intent.min_price = min(intent.min_price, intent.max_price)
    if limits.brands:
        wanted = {b.casefold() for b in limits.brands}
        named = [b for b in intent.brands if b.casefold() in wanted]
        intent.brands = tuple(named) or tuple(limits.brands)
