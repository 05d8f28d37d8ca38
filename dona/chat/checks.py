"""Checks on what the model wrote: citations of products it was not given, prices no
product has.
"""

from __future__ import annotations

import re

from dona.chat.understanding import NUMBER, parse_amount

# ---- checking the answer ----------------------------------------------------------------

_CITATION = re.compile(r"\[([^\[\]\n]{1,200})\]")
_PRICE_IN_TEXT = re.compile(
    rf"(?:(?:\$|€|£|USD|EUR)\s?{NUMBER}|{NUMBER}\s?(?:\$|€|£|USD|EUR|dollars|euros|dólares))",
    re.I,
)


TEMPLATE_BRACKETS = re.compile(r"<([^<>\n]{2,200})>")


def citations(text: str, known: set[str]) -> tuple[list[str], list[str]]:
    """(cited ids in the context, in order; cited ids that are not) of an answer."""
    good: list[str] = []
    bad: list[str] = []
    for m in _CITATION.finditer(text):
        for raw in re.split(r"\s*[,;]\s*", m.group(1)):
            pid = raw.strip().removeprefix("id=").removeprefix("id:").strip()
            if pid in known:
                if pid not in good:
                    good.append(pid)
            elif pid and pid not in bad:
                bad.append(pid)
    return good, bad


def strip_citations(text: str, unknown: list[str]) -> str:
    for pid in unknown:
        text = text.replace(f"[{pid}]", "")
    return re.sub(r"[ \t]{2,}", " ", text).strip()


def unsupported_prices(text: str, allowed: list[float]) -> list[str]:
    """Money amounts in the answer that match no product in the context (nor a limit)."""
    bad = []
    for m in _PRICE_IN_TEXT.finditer(text):
        value = parse_amount(m.group(1) or m.group(2) or "")
        if value is None:
            continue
        if not any(abs(value - a) <= 0.011 or abs(round(value) - a) < 1e-9 for a in allowed):
            bad.append(m.group(0))
    return bad
