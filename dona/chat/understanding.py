"""Understanding a shopper's turn with rules (no model): language, price limits, brands,
references to products already shown and follow-ups.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from dona.chat.vocabulary import (
    ACCESSORY,
    COLOURS,
    ES_ACCESSORY,
    FEATURES,
    KINDS,
    Feature,
    Kind,
    Quantity,
    find_quantities,
    fold,
)
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
    dolares hola gracias sí tenés tenes querés queres buscás buscas necesitás mostrame
    decime muestrame dime recomendame recomiéndame andan anda sale salen vale valen cuestan
    venden vendés tenéis hay alguno algún ningún caro cara caros económico económica
    mejor marca marcas cuál cuánto además entre hasta desde"""
)
_EN_WORDS = _words(
    """the a an of for with without is are do does have has any some what which how much
    cheap cheaper under below than i me my need want looking find show it one ones this
    that those second first third last dollars price hello thanks you sell got cost costs
    brand best most between tell about these them there"""
)
# Shop words only Spanish uses (the catalog's own words, like "bluetooth", count for neither)
_ES_SHOP = _words(
    """auriculares audífonos audifonos cascos parlante parlantes altavoz altavoces celular
    celulares móvil movil ratón raton teclado teclados impresora impresoras tinta cartucho
    cartuchos tóner pantalla pantallas cámara camara mochila mochilas funda fundas cargador
    cargadores pila pilas batería bateria externa portátil portatil inalámbrico
    inalambrico inalámbricos inalámbrica inalámbricas resistente agua pulgadas negro negra
    blanco blanca rojo azul gris tarjeta memoria disco duro proyector televisor tele reloj
    cafetera afeitadora rompecabezas muñeca calculadora etiquetadora enrutador micrófono
    compu computadora ordenador lapicera"""
)


def _spanish_shop_word(word: str) -> bool:
    return (
        word in _ES_SHOP
        or (word.endswith("s") and word[:-1] in _ES_SHOP)
        or (word.endswith("es") and word[:-2] in _ES_SHOP)
    )


def _language_words(text: str) -> list[str]:
    return re.findall(r"[a-záéíóúüñ]+", text.lower())


def language_scores(text: str) -> tuple[int, int]:
    """(Spanish, English) evidence: Spanish punctuation, accents and shop words, and
    function words of each language."""
    lowered = text[:4000].lower()
    words = _language_words(lowered)
    es = sum(w in _ES_WORDS or _spanish_shop_word(w) for w in words) + sum(
        bool(re.search(r"[áéíóú]", w)) for w in words
    )
    if re.search(r"[¿¡ñ]", lowered):
        es += 10
    return es, sum(w in _EN_WORDS for w in words)


def detect_language(text: str) -> str:
    """'es' or 'en': Spanish punctuation and accents, then function-word counts."""
    es, en = language_scores(text)
    return "es" if es > en else "en"


def language_evidence(text: str) -> tuple[int, int]:
    """(Spanish, English) function words in a text: how sure `detect_language` can be."""
    words = _language_words(text[:4000])
    return sum(w in _ES_WORDS for w in words), sum(w in _EN_WORDS for w in words)


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
    "parlante": "speaker", "parlantes": "speakers", "celular": "phone", "celulares": "phones",
    "audífonos": "headphones", "audifonos": "headphones", "auris": "headphones",
    "compu": "computer", "computadora": "computer", "cafetera": "coffee maker",
    "afeitadora": "shaver", "aspiradora": "vacuum cleaner", "rompecabezas": "puzzle",
    "muñeca": "doll", "muñecas": "dolls", "lapicera": "pen", "cortacéspedes": "lawn mower",
    "cortacésped": "lawn mower", "bicicleta": "bicycle", "zapatillas": "shoes",
    "perfume": "perfume", "heladera": "fridge", "nevera": "fridge", "lavarropas":
    "washing machine", "lavadora": "washing machine", "verde": "green", "rosa": "pink",
    "amarillo": "yellow", "plateado": "silver", "dorado": "gold", "juguete": "toy",
    "juguetes": "toys", "libro": "book", "libros": "books", "secador": "hair dryer",
    "licuadora": "blender", "licuadoras": "blender", "tostadora": "toaster", "pava": "kettle",
    "hervidor": "kettle", "microondas": "microwave", "plancha": "iron", "ventiladores": "fan",
    "aspiradoras": "vacuum cleaner", "cafeteras": "coffee maker", "afeitadoras": "shaver",
    "binoculares": "binoculars", "prismáticos": "binoculars", "muñecos": "dolls",
    "pendrive": "usb flash drive", "auricular": "headphones",
}  # fmt: skip

_STOP = (
    _ES_WORDS
    | _EN_WORDS
    | _words(
        """please can could would you your we us our there here about tell know get got
    looking search show give recommend suggest something anything good best buy
    por favor podrías podrias recomiendas recomienda dame muestra enséñame ensename
    quiero necesito busco alguna algún algun tenéis teneis ofrece ofreces cosa
    from more details info detalles información informacion che hola buenas buen dia
    día tardes noches sell sold stock available disponible disponibles venden vende
    have has tiene tienen tenés tenes hay do does is are es son cuesta cuestan costs cost
    much cuánto cuanto cuánta precio price prices precios vale valen sale salen andan
    and y o or one ones then entonces ok okay also two dos"""
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
_QUANTITY_TEXT = re.compile(
    r"(?<![\w.,])(?:\d{1,3}(?:[.,]\d{3})+|\d{1,6}(?:[.,]\d{1,2})?)\s?(?:gb|tb|gigas?|teras?|"
    r"gigabytes?|terabytes?|mah|w|watts?|vatios?|\"|''|”|″|inch(?:es)?|in|pulgadas?|pulg|m|"
    r"meters?|metres?|metros?|pcs|pieces?|piezas?)(?!\w)",
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
    kind: Kind | None = None  # the kind of product asked for ("auriculares" = headphones)
    features: tuple[Feature | Quantity, ...] = ()  # what it must have ("bluetooth", "64 GB")
    order: str | None = None  # "cheapest" / "priciest": the shopper wants the extreme one
    compare: bool = False  # two shown products compared ("which is cheaper, 1 or 2?")
    model_codes: tuple[str, ...] = ()  # "MBS-100", "SHB1100": a product named by its model
    asks: str | None = None  # "price" / "brand": what the shopper wants to know
    subject: str = ""  # the request in the shopper's own words (for "nothing fits")
    refers_to_last: bool = False  # "it": the products of the last answer, not the last list
    head: str = ""  # English: the noun the request is about when no known kind is ("drones")
    names: tuple[str, ...] = ()  # capitalised words that may be brands ("JBL", "Bose")

    @property
    def filters(self) -> Filters:
        return Filters(min_price=self.min_price, max_price=self.max_price, brands=self.brands)

    def constraint(self, currency: str | None) -> str:
        """The shopper's request in words ("headphones with bluetooth under $40.00")."""
        es = self.language == "es"
        if self.kind is not None or self.features:
            topic = self.topic()
        else:
            subject = self.subject or ("" if self.brands else self.search_text)
            topic = f'"{subject}"' if subject else ""
            if not topic and self.brands:
                topic = "productos" if es else "products"
        bits = [topic] if topic else []
        if self.brands:
            bits.append(("de " if es else "from ") + (" o " if es else " or ").join(self.brands))
        bits += self.price_words(currency)
        return " ".join(bits)

    def topic(self) -> str:
        """Kind and features in words: 'headphones with bluetooth' / 'auriculares con
        bluetooth'."""
        es = self.language == "es"
        if self.kind is not None:
            noun = self.kind.es_plural if es else self.kind.plural
        else:
            noun = "productos" if es else "products"
        wanted = [f.phrase(self.language) for f in self.features]
        if not wanted:
            return noun
        return f"{noun} " + (" y " if es else " and ").join(wanted)

    def price_words(self, currency: str | None) -> list[str]:
        es = self.language == "es"
        if self.min_price is not None and self.max_price is not None:
            low = format_price(self.min_price, currency)
            high = format_price(self.max_price, currency)
            return [f"entre {low} y {high}" if es else f"between {low} and {high}"]
        if self.max_price is not None:
            return [("por menos de " if es else "under ") + format_price(self.max_price, currency)]
        if self.min_price is not None:
            return [("por más de " if es else "over ") + format_price(self.min_price, currency)]
        return []


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def compile_brand_pattern(brands: list[str]) -> re.Pattern[str] | None:
    names = sorted({b for b in brands if len(b.strip()) >= 2}, key=len, reverse=True)
    if not names:
        return None
    alternatives = "|".join(re.escape(_fold(b)) for b in names)
    return re.compile(rf"(?<![\w-])({alternatives})(?![\w-])")


_SUPERLATIVE_CHEAP = re.compile(
    r"\b(cheapest|least expensive|lowest[- ]priced?|most affordable|"
    r"(?:el|la|los|las|lo)(?: [\w-]+){0,3} (?:mas|m[aá]s) (?:barat[oa]s?|econ[oó]mic[oa]s?)|"
    r"(?:de )?menor precio|m[aá]s barat[oa] (?:de todos|que ten[eé]s|que tienen))\b",
    re.I,
)
_SUPERLATIVE_DEAR = re.compile(
    r"\b(most expensive|priciest|highest[- ]priced?|top of the range|"
    r"(?:el|la|los|las|lo)(?: [\w-]+){0,3} (?:mas|m[aá]s) car[oa]s?|(?:de )?mayor precio|"
    r"m[aá]s car[oa] (?:de todos|que ten[eé]s|que tienen))\b",
    re.I,
)
_EXTREME_WORDS = re.compile(
    r"\b(cheapest|least expensive|lowest[- ]priced?|lowest price|most affordable|"
    r"most expensive|priciest|highest[- ]priced?|highest price|top of the range|"
    r"(?:mas|m[aá]s) (?:barat[oa]s?|econ[oó]mic[oa]s?|car[oa]s?)|(?:de )?(?:menor|mayor) precio|"
    r"de todos|que ten[eé]s|que tienen)\b",
    re.I,
)
_BOTH = re.compile(
    r"\b(both|first two|the two|two of them|ambos|ambas|los dos|las dos|"
    r"(?:los|las) (?:dos )?primer[oa]s(?: dos)?)\b",
    re.I,
)
_COMPARE = re.compile(
    r"\b(compare|comparison|difference|differ|versus|vs\.?|compar[aá]|comparar|compararlos|"
    r"diferencia|diferencias|which is (?:cheaper|better|more expensive)|"
    r"cu[aá]l (?:es|sale|cuesta) (?:m[aá]s|menos)|(?:more|less) expensive than)\b",
    re.I,
)
# Asking about the products shown ("does it have...?", "¿tiene...?", "is the second one...")
_ASKS_ABOUT = re.compile(
    r"\b(does|do|is|are|has|have|tiene|tienen|ten[eé]s|es|son|incluye|incluyen|includes?|"
    r"comes with|viene con|vienen con|cuenta con|any of them|alguno|alguna|cu[aá]l de)\b",
    re.I,
)
_ANY_OF = re.compile(
    r"\b(any of them|any of these|which of them|which one|which ones|alguno|alguna|algunos|"
    r"cu[aá]l(?:es)? de (?:ellos|ellas|estos|estas|esos|esas)|cu[aá]l(?:es)?)\b",
    re.I,
)
_ASKS_PRICE = re.compile(
    r"\b(how much|price|prices|cost|costs|cu[aá]nto|cu[aá]nta|cuesta|cuestan|precio|precios|"
    r"sale|salen|vale|valen)\b",
    re.I,
)
_ASKS_BRAND = re.compile(
    r"\b(which brand|what brand|who makes|who made|manufacturer|brand of|qu[eé] marca|"
    r"de qu[eé] marca|cu[aá]l es la marca|fabricante|qui[eé]n (?:lo |la )?fabrica)\b",
    re.I,
)
_MODEL_CODE = re.compile(r"(?<![\w-])(?=[\w-]*\d)(?=[\w-]*[a-z])[a-z0-9][\w-]{2,}(?![\w-])")
_UNIT_ONLY = re.compile(r"\d+(?:gb|tb|mb|mah|w|m|k|p|mm|cm|hz|ghz|mp|x|th|st|nd|rd)", re.I)


_STOP_FOLDED = frozenset(fold(w) for w in _STOP)
_VOCABULARY_WORDS = (
    frozenset(
        w
        for entry in (*KINDS, *FEATURES, *COLOURS)
        for w in re.findall(r"[a-z]+", fold(f"{entry.name} {entry.es} {entry.search}"))
    )
    | frozenset(fold(w) for w in _ES_TO_EN)
    | frozenset(w for v in _ES_TO_EN.values() for w in v.split())
)
_ES_TO_EN_FOLDED = {fold(k): v for k, v in _ES_TO_EN.items()}
PORTABLE = next(f for f in FEATURES if f.name == "portable")
LAPTOP = next(k for k in KINDS if k.name == "laptop")


def _head_kind(plain: str) -> Kind | None:
    """The kind the request is about: the first (then longest) named, unless an accessory
    word makes it something else ("laptop backpack" is a backpack, "phone case" and
    "funda para celular" are neither phones nor a known kind)."""
    found: list[tuple[int, int, Kind]] = []
    for candidate in KINDS:
        for m in candidate.asked.finditer(plain):
            found.append((m.start(), -(m.end() - m.start()), candidate))
    if not found:
        return None
    found.sort(key=lambda f: (f[0], f[1]))
    start, negative_length, kind = found[0]
    end = start - negative_length
    before = plain[:start].split()
    if set(before[-3:]) & ES_ACCESSORY and kind.name != "laptop bag":
        return None
    following = re.findall(r"[\w+-]+", plain[end : end + 30])[:1]
    if following and following[0] in ACCESSORY and following[0] not in kind.own:
        later = [f for f in found if f[0] >= end]
        return later[0][2] if later else None
    return kind


_REQUEST_OPENING = re.compile(
    r"^(?:(?:hi|hello|hey|please|so|ok|okay)[, ]+)*(?:(?:i'?m|i am) (?:looking|searching) for|"
    r"(?:i'?m|i am) after|do you (?:have|sell|stock|carry)|have you got|i (?:need|want|would like)|"
    r"(?:can|could) you (?:show|find|recommend)(?: me)?|show me|is there|are there|"
    r"(?:i'?d|i would) like)\b",
)
_PREPOSITION = re.compile(
    r"\b(?:with|without|for|that|which|under|below|over|above|from|in|of|to|on|by|between|"
    r"less|more|around|about|near|like)\b"
)
_CHEAP = re.compile(
    r"\b(cheap|inexpensive|budget|affordable|low[- ]cost|barat[oa]s?|econ[oó]mic[oa]s?)\b", re.I
)
_NAME = re.compile(r"(?<![\w-])(?:[A-Z]{2,}[A-Za-z]*|[A-Z][a-z]+[A-Z]?[a-z]*)(?![\w-])")


def _names(text: str, brands: list[str], kind: Kind | None) -> tuple[str, ...]:
    """Words written like a brand that are not a known brand, shop word or function word,
    and stand where a brand does: next to the kind ("parlantes JBL", "Bose headphones"),
    after "de" / "from" / "by" / "marca", or in capitals ("JBL"). "A speaker for my Mac"
    names no brand."""
    known = {fold(w) for b in brands for w in b.split()}
    spans = [m.span() for m in kind.asked.finditer(fold(text))] if kind is not None else []
    found = []
    for m in _NAME.finditer(text):
        before = text[: m.start()].rstrip()
        if not before or before[-1] in ".!?¿¡:;\"'(":
            continue  # the first word of a sentence is capitalised anyway
        word = fold(m.group(0))
        if word in known or word in _STOP_FOLDED or word in _VOCABULARY_WORDS:
            continue
        previous = before.split()[-1].lower() if before.split() else ""
        beside_kind = any(
            0 <= m.start() - end <= 2 or 0 <= start - m.end() <= 2 for start, end in spans
        )
        capitals = m.group(0).isupper() and 2 <= len(m.group(0)) <= 5
        if beside_kind or capitals or previous in _BRAND_WORDS:
            found.append(m.group(0))
    return tuple(dict.fromkeys(found))[:3]


_BRAND_WORDS = frozenset({"de", "from", "by", "marca", "brand", "of", "del"})


_ARTICLES = frozenset(
    [
        "a",
        "an",
        "the",
        "any",
        "some",
        "one",
        "two",
        "my",
        "your",
        "our",
        "this",
        "that",
        "these",
        "those",
    ]
)


def _english_head(plain: str, language: str, brands: list[str]) -> str:
    """English only: the last word of the noun phrase before any preposition, when it is
    not a brand ("lawn mowers" -> "mowers", "drones with a camera" -> "drones")."""
    if language != "en":
        return ""
    text = _REQUEST_OPENING.sub(" ", plain.strip(" ?!.¿¡"))
    phrase = _PREPOSITION.split(text, maxsplit=1)[0]
    brand_words = {w for b in brands for w in fold(b).split()}
    words = [
        w
        for w in re.findall(r"[a-z][a-z-]+", phrase)
        if w not in _ARTICLES and w not in _STOP_FOLDED and w not in brand_words
    ]
    return words[-1] if words and len(words[-1]) > 2 else ""


def _ordinal_references(folded: str, shown: int) -> list[int]:
    references: list[int] = []
    for m in _ORDINAL.finditer(folded):
        index = _ORDINALS[m.group(1).lower()] if m.group(1) else int(m.group(2)) - 1
        index = index if index >= 0 else shown + index
        if 0 <= index < shown and index not in references:
            references.append(index)
    return references


def understand(
    question: str,
    brands: list[str],
    previous: Understanding | None = None,
    shown: int = 0,
    brand_pattern: re.Pattern[str] | None = None,
) -> Understanding:
    """Rules only: fast, predictable, testable. `shown`: products in the previous answer."""
    text = clean_query(question)
    scores = language_scores(text)
    language = "es" if scores[0] > scores[1] else "en"
    if scores == (0, 0) and previous is not None:
        language = previous.language  # "mouse Logitech": no evidence, keep the conversation's
    rest = text
    # quantities first: "más de 10000 mAh" is a capacity, not a price
    folded_all = fold(rest)
    features: list[Feature | Quantity] = []
    for quantity, _span in find_quantities(folded_all):
        if quantity not in features:
            features.append(quantity)
    if features:
        rest = _QUANTITY_TEXT.sub(" ", rest)
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

    references = _ordinal_references(folded, shown) if shown else []
    refers_to_last = False
    if shown >= 2 and len(references) < 2 and _BOTH.search(folded):
        references = [0, 1]
    order = None
    if len(references) >= 2 or _COMPARE.search(folded):
        pass  # "¿cuál es más barato, el primero o el segundo?" compares two shown
    elif _SUPERLATIVE_CHEAP.search(folded):
        order = "cheapest"
        folded = _EXTREME_WORDS.sub(" ", folded)
    elif _SUPERLATIVE_DEAR.search(folded):
        order = "priciest"
        folded = _EXTREME_WORDS.sub(" ", folded)
    elif _CHEAP.search(folded) and not _CHEAPER.search(folded):
        order = "cheapest"  # "auriculares baratos": the cheapest first
    compare = bool(_COMPARE.search(folded))
    cheaper = bool(_CHEAPER.search(folded)) and not compare
    if cheaper:
        folded = _CHEAPER.sub(" ", folded)

    # features, then kinds, from accent-free text ("cancelación" = "cancelacion"); features
    # first, so "tiene micrófono" is a feature and "micrófonos" a kind
    plain = fold(folded)
    for feature in (*FEATURES, *COLOURS):
        if feature.name == "portable":
            continue
        if feature.asked.search(plain) and feature not in features:
            features.append(feature)
            plain = feature.asked.sub(" ", plain)
    kind = _head_kind(plain)
    head = _english_head(plain, language, found_brands)
    named = kind.asked.search(plain) if kind is not None else None
    if head and named is not None and head in named.group(0).split():
        head = ""  # the noun phrase names a known kind
    elif head and kind is not None:
        kind = None  # "drones with a camera": the kind is only in what follows the noun
    if kind is not None:
        plain = kind.asked.sub(" ", plain)
    elif implied := [f.implies for f in features if getattr(f, "implies", "")]:
        kind = next(k for k in KINDS if k.name == implied[0])
    if PORTABLE.asked.search(plain):  # "parlante portátil" is portable, "un portátil" a laptop
        if kind is None:
            kind = LAPTOP
        elif kind is not LAPTOP:
            features.append(PORTABLE)
        plain = PORTABLE.asked.sub(" ", plain)
    codes = [c for c in _MODEL_CODE.findall(fold(text)) if not _UNIT_ONLY.fullmatch(c)][:3]

    words = re.findall(r"[\w][\w.+-]*", _ORDINAL.sub(" ", plain))
    terms: list[str] = []
    for word in words:
        if word in _STOP_FOLDED or (word.isdigit() and len(word) < 2):
            continue
        terms.append(_ES_TO_EN_FOLDED.get(word, word) if language == "es" else word)
    topical = terms
    subject_words = [
        w
        for w in re.findall(r"[\w][\w.+-]*", _ORDINAL.sub(" ", folded))
        if fold(w) not in _STOP_FOLDED
        and len(w) > 2
        and not w.isdigit()
        and fold(w) in plain
        and fold(w) not in {fold(x) for b in found_brands for x in b.split()}
    ]
    asks_about = bool(_ASKS_ABOUT.search(folded))
    # "is it waterproof?", "¿alguno tiene bluetooth?", "does the second one have...": a
    # question about the cards shown, not a new search
    if (
        shown
        and not references
        and kind is None
        and min_price is None
        and max_price is None
        and not found_brands
        and not cheaper
        and order is None
        and (
            (features and asks_about and len(topical) <= 3)
            or (len(terms) <= 2 and _PRONOUN.search(folded))
        )
    ):
        references = (
            list(range(min(shown, 3)))
            if _ANY_OF.search(folded) or (features and not _PRONOUN.search(folded))
            else [0]
        )
        refers_to_last = True
    if len(references) >= 2 and cheaper:  # "which one is cheaper, the first or the second?"
        compare, cheaper = True, False
    if compare and shown and len(references) < 2 and not kind:
        references = references or list(range(min(shown, 2)))
    search_terms: list[str] = []
    if kind is not None:
        search_terms.append(kind.search.replace(",", " "))
    search_terms += [f.search for f in features]
    search_terms += [t for t in terms if t not in " ".join(search_terms)]
    search_text = " ".join(dict.fromkeys(" ".join(search_terms).split()))
    follow_up = False
    brand_words = {w for b in found_brands for w in _fold(b).split()}
    only_constraints = kind is None and not [t for t in terms if t not in brand_words]
    if previous is not None and (only_constraints or cheaper) and not references:
        # "cheaper ones?", "¿y de Sony?", "under 30?", "¿y con bluetooth?": same topic
        follow_up = True
        kind = previous.kind if kind is None else kind
        features = list(previous.features) + [f for f in features if f not in previous.features]
        search_text = " ".join(
            dict.fromkeys(f"{previous.search_text} {search_text}".split())
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
        kind=kind,
        features=tuple(features),
        order=order,
        compare=compare and len(references) >= 2,
        model_codes=tuple(codes),
        asks="brand" if _ASKS_BRAND.search(text) else "price" if _ASKS_PRICE.search(text) else None,
        subject=" ".join(subject_words[:6]),
        refers_to_last=refers_to_last,
        head=head,
        names=_names(text, brands, kind) if not references else (),
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
