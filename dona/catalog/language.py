"""Which language a catalog is written in, from its own text (no model needed).

Function words are the most reliable signal on product text: titles are mostly names,
numbers and brands, while descriptions carry "de", "para", "con" or "the", "for", "with".
Only the languages DONA has an analyzer for are told apart; anything else reads as English.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from dona.catalog.text import fold_accents

DEFAULT_LANGUAGE = "en"
_SAMPLE = 2000  # texts looked at: enough for a clear majority, cheap on any catalog
_MAX_CHARS = 400  # per text, before the regex
_WORD = re.compile(r"[a-z]+")


# Frequent function words that are not also frequent in the other language.
def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_MARKERS = {
    "en": _words(
        "the and for with without from this that your you are is to of in on by or black white new"
    ),
    "es": _words(
        "de del la las los el con sin para por una uno y en que negro negra blanco "
        "blanca nuevo nueva color tamano incluye"
    ),
}


def detect_language(texts: Sequence[str]) -> str:
    """ "es" or "en" (the default): the language whose markers the texts use most."""
    counts = dict.fromkeys(_MARKERS, 0)
    step = max(1, len(texts) // _SAMPLE)
    for text in texts[::step][:_SAMPLE]:
        for word in _WORD.findall(fold_accents(text[:_MAX_CHARS].lower())):
            for language, markers in _MARKERS.items():
                if word in markers:
                    counts[language] += 1
    best = max(counts, key=lambda language: counts[language])
    return best if counts[best] > counts[DEFAULT_LANGUAGE] else DEFAULT_LANGUAGE
