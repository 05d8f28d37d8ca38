"""The `extractive` backend: no model, a templated answer from the products. The chat falls
back to it whenever another backend fails.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from dona.llm.base import Prompt, Usage, llm_backends

# --- extractive -------------------------------------------------------------------------

TEMPLATES = {
    "en": {
        "intro": "Here is what I found in the catalog:",
        "none": "Nothing in the catalog matches {constraint}. The closest alternatives:",
        "empty": "I could not find anything matching that in the catalog.",
        "price": "{price}",
    },
    "es": {
        "intro": "Esto es lo que encontré en el catálogo:",
        "none": "No hay nada en el catálogo que cumpla {constraint}. Las alternativas más "
        "cercanas:",
        "empty": "No encontré nada parecido en el catálogo.",
        "price": "{price}",
    },
}

if TYPE_CHECKING:
    from dona.config import Settings


def extractive_answer(prompt: Prompt, limit: int = 3) -> str:
    """A plain answer from the facts alone: what a shopper needs when no model is there."""
    words = TEMPLATES.get(prompt.language, TEMPLATES["en"])
    if not prompt.products:
        return words["empty"]
    head = (
        words["none"].format(constraint=prompt.constraint or "that")
        if prompt.nothing_fits
        else words["intro"]
    )
    lines = [head]
    for p in prompt.products[:limit]:
        brand = f"{p.brand} " if p.brand and not p.title.lower().startswith(p.brand.lower()) else ""
        price = f", {p.price}" if p.price else ""
        lines.append(f"- {brand}{p.title}{price} [{p.id}]")
    return "\n".join(lines)


class ExtractiveBackend:
    name = "extractive"
    model = "none"

    def stream(self, prompt: Prompt, usage: Usage | None = None) -> Iterator[str]:
        text = prompt.draft or extractive_answer(prompt)
        if usage is not None:
            usage.prompt_tokens = 0
            usage.completion_tokens = 0
        yield text


@llm_backends.register(
    "extractive", "no model: a templated answer from the products (the fallback)"
)
def extractive_backend(settings: Settings | None = None) -> ExtractiveBackend:
    return ExtractiveBackend()
