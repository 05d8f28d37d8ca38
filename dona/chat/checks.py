"""Checks on what the model wrote, against the facts DONA gave it: citations of products it
was not given, prices no product has, brands and model names that are not in the facts,
features claimed for products that do not have them, saying nothing fits when the shown
products fit, and answering in the wrong language.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from dona.chat.understanding import NUMBER, detect_language, language_evidence, parse_amount
from dona.chat.vocabulary import COLOURS, FEATURES, Feature, fold

# ---- citations and prices ---------------------------------------------------------------

_CITATION = re.compile(r"\[([^\[\]\n]{1,200})\]")
_PRICE_IN_TEXT = re.compile(
    rf"(?:(?:US\$|\$|€|£|USD|EUR)\s?{NUMBER}|{NUMBER}\s?(?:\$|€|£|USD|EUR|dollars|euros|"
    r"d[oó]lares))",
    re.I,
)
TEMPLATE_BRACKETS = re.compile(r"<([^<>\n]{2,200})>")
MAX_ANSWER_CHARS = 4000  # what the checks read of an answer (a model's is far shorter)


def citations(text: str, known: set[str]) -> tuple[list[str], list[str]]:
    """(cited ids in the context, in order; cited ids that are not) of an answer."""
    good: list[str] = []
    bad: list[str] = []
    for m in _CITATION.finditer(text[:MAX_ANSWER_CHARS]):
        for raw in re.split(r"\s*[,;]\s*", m.group(1)):
            pid = raw.strip().removeprefix("id=").removeprefix("id:").strip()
            if pid in known:
                if pid not in good:
                    good.append(pid)
            elif pid and pid not in bad:
                bad.append(pid)
    return good, bad


def resolve_labels(text: str, labels: dict[str, str]) -> str:
    """ "[1]" (how the model cites) -> "[id]" (how answers cite), also "[1, 2]" and "[#1]"."""

    def replace(m: re.Match[str]) -> str:
        parts = [p.strip().lstrip("#") for p in re.split(r"\s*[,;]\s*", m.group(1))]
        if parts and all(p in labels for p in parts):
            return "".join(f"[{labels[p]}]" for p in parts)
        return m.group(0)

    return _CITATION.sub(replace, text)


def strip_citations(text: str, unknown: list[str]) -> str:
    for pid in unknown:
        text = text.replace(f"[{pid}]", "")
    return re.sub(r"[ \t]{2,}", " ", text).strip()


def unsupported_prices(text: str, allowed: list[float]) -> list[str]:
    """Money amounts in the answer that match no product in the context (nor a limit)."""
    bad = []
    for m in _PRICE_IN_TEXT.finditer(text[:MAX_ANSWER_CHARS]):
        value = parse_amount(m.group(1) or m.group(2) or "")
        if value is None:
            continue
        if not any(abs(value - a) <= 0.011 or abs(round(value) - a) < 1e-9 for a in allowed):
            bad.append(m.group(0))
    return bad


# ---- denials, names, features, language -------------------------------------------------

DENIAL = re.compile(
    r"\b(?:no (?:tengo|tenemos|hay|encontr[eé]|encontramos|dispongo|disponemos|contamos|"
    r"cuento|vendemos|ofrecemos|puedo ayudar|tengo informaci[oó]n|se encontr|existen|"
    r"est[aá] disponible|est[aá]n disponibles)|"
    r"lo siento|lamentablemente|desafortunadamente|sin informaci[oó]n|"
    r"ning[uú]n producto|ninguno (?:de|cumple)|nada (?:que|parecido|similar)|"
    r"(?:i|we) (?:do not|don't|cannot|can't|couldn't|could not) (?:have|find|help|offer|"
    r"sell|see|provide)|no (?:products?|results?|information|matches|items?)|"
    r"nothing (?:matches|fits|in|that|like|available|found)|there (?:are|is) no|"
    r"not available|unfortunately|i'?m sorry|i am sorry|none of (?:the|our)|"
    r"(?:i|we) found no|(?:could not|couldn'?t|can'?t|cannot) find|"
    r"no (?:vend|ofrec|comercializ|trabaj)\w*|no (?:lo|la|los|las) (?:tengo|tenemos|vendemos)|"
    r"(?:we|i) (?:do not|don'?t) (?:sell|carry|stock)|"
    r"(?:is|are) not (?:in|listed|available))\b",
    re.I,
)
_NEGATION = re.compile(
    r"\b(?:no|not|doesn'?t|don'?t|does not|do not|without|sin|lacks?|carece|ni)\b", re.I
)
_MODEL_NAME = re.compile(r"(?<![\w-])(?=[\w-]*\d)(?=[\w-]*[A-Za-z])[A-Za-z0-9][\w-]{3,}(?![\w-])")
_NOT_A_NAME = re.compile(
    r"\d+(?:gb|tb|mb|mah|w|mm|cm|hz|khz|ghz|mp|x|k|p|th|st|nd|rd|ppm|dpi|in|m|v|va|kg|g)", re.I
)
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+|\n+")  # "$49.00" is not the end of one


def denies(text: str) -> bool:
    """Does the answer say there is nothing (or no information, or cannot help)?"""
    return bool(DENIAL.search(text[:MAX_ANSWER_CHARS]))


def unknown_brands(
    text: str, pattern: re.Pattern[str] | None, known: Iterable[str], facts: str = ""
) -> list[str]:
    """Catalog brands the answer names that no product in the facts has, nor the facts'
    text names ("Intel" in a laptop's title), nor the shopper named. Matched as written,
    so a brand that is also a word ("Equip") must be capitalised to count."""
    if pattern is None:
        return []
    allowed = {fold(b) for b in known if b}
    if facts:
        allowed |= {fold(m.group(1)) for m in pattern.finditer(facts[:20000].casefold())}
    found = []
    folded = text[:MAX_ANSWER_CHARS].casefold()
    for m in pattern.finditer(folded):
        original = text[m.start() : m.end()]
        name = fold(m.group(1))
        if name in allowed or name in found or original.islower():
            continue
        found.append(name)
    return found


def unknown_names(text: str, facts: str) -> list[str]:
    """Model numbers and codes ("SHB1400", "MX-500") in the answer that are not in the
    facts the model was given: products it made up or remembered."""
    known = fold(facts)
    names = []
    for m in _MODEL_NAME.finditer(text[:MAX_ANSWER_CHARS]):
        name = m.group(0)
        if _NOT_A_NAME.fullmatch(name) or fold(name) in known:
            continue
        names.append(name)
    return names


def mentions(text: str, title: str, brand: str | None = None) -> bool:
    """Does the answer name this product: a model number of its title, or two title
    words in a row (its brand aside)?"""
    answer = " ".join(re.findall(r"[\w-]+", fold(text[:MAX_ANSWER_CHARS])))
    brand_words = set(re.findall(r"[\w-]+", fold(brand or "")))
    words = [w for w in re.findall(r"[\w-]+", fold(title[:300])) if w not in brand_words]
    for w in words:
        coded = len(w) >= 3 and re.search(r"\d", w) and re.search(r"[a-z]", w)
        if coded and re.search(rf"(?<![\w-]){re.escape(w)}(?![\w-])", answer):
            return True
    for a, b in zip(words, words[1:], strict=False):
        if len(a) + len(b) >= 6 and f" {a} {b} " in f" {answer} ":
            return True
    return False


@dataclass
class Claim:
    feature: str
    product_id: str


def unsupported_features(
    text: str, statuses: dict[str, dict[str, bool | None]], extra: Iterable[Feature] = ()
) -> list[Claim]:
    """Features a sentence claims for the products it cites that the facts do not give
    them (`statuses`: product id -> feature name -> True/False/None, computed by DONA).
    A sentence with a negation claims nothing."""
    claims = []
    features = [*FEATURES, *COLOURS, *extra]
    for sentence in _SENTENCE_END.split(text[:MAX_ANSWER_CHARS]):
        cited = [m.group(1).strip() for m in _CITATION.finditer(sentence)]
        cited = [c for c in cited if c in statuses]
        if not cited or _NEGATION.search(sentence):
            continue
        plain = fold(_CITATION.sub(" ", sentence))
        for feature in features:
            if not feature.asked.search(plain):
                continue
            for pid in cited:
                if statuses[pid].get(feature.name) is not True:
                    claims.append(Claim(feature.name, pid))
    return claims


def wrong_language(text: str, expected: str, names: Iterable[str] = ()) -> bool:
    """Is the answer in another language than the shopper's? Product names and citations
    are taken out first (catalog titles are English in a Spanish answer)."""
    plain = _CITATION.sub(" ", text[:MAX_ANSWER_CHARS])
    for name in sorted({n for n in names if n}, key=len, reverse=True):
        plain = plain.replace(name, " ")
    es, en = language_evidence(plain)
    if es + en < 2 and not re.search(r"[¿¡ñáéíóú]", plain.lower()):
        return False  # too few words to tell
    return detect_language(plain) != expected


@dataclass
class Verdict:
    """What the checks found in one answer; `problems` empty means it can be shown."""

    text: str
    cited: list[str] = field(default_factory=list)
    dropped_citations: list[str] = field(default_factory=list)
    unsupported_prices: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
