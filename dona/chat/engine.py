"""Grounded product chat: understand the shopper, retrieve, let a model word the answer.

One turn:

1. **Understand** (rules, no model): the answer language (Spanish or English), price
   limits ("under 50", "menos de 50 €", "between 20 and 40"), brands named in the catalog,
   references to products already shown ("the second one", "el segundo", "it") and
   follow-ups ("cheaper ones?", "¿y de Sony?") resolved against the previous turn. Spanish
   shop words are mapped to English search terms, since the demo catalog and the bundled
   embedder are English.
2. **Retrieve** with the hybrid search under those filters. When the filters leave nothing,
   or the best match is too weak to be what was asked for, the turn is "nothing fits" and
   the closest products are offered as alternatives.
3. **Prompt** the backend with compact facts (id, title, brand, price, key specs, one
   sentence), never whole descriptions. Catalog text is data: it sits in a delimited block,
   instruction-like sentences are dropped from it and the system prompt says so.
4. **Check** the answer: citations `[id]` that are not in the context are removed; a price
   that no product in the context has (nor the shopper's own limit) means the wording is
   not trusted, and the extractive answer replaces it. What the shopper sees about a
   product (cards: name, price, specs) is always rendered from the database.

Any backend failure (server down, timeout, bad key, missing model) gives the extractive
answer plus a one-line notice: the shopper always gets products, never a traceback.
"""

from __future__ import annotations

import re
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from dona.catalog import Product
from dona.catalog.text import product_text
from dona.chat.checks import (
    TEMPLATE_BRACKETS,
    citations,
    strip_citations,
    unsupported_prices,
)
from dona.chat.prompt import (
    MAX_SPECS,
    build_messages,
    product_facts,
)
from dona.chat.understanding import (
    Understanding,
    apply_limits,
    compile_brand_pattern,
    understand,
)
from dona.errors import DonaError, LLMError
from dona.formatting import format_price
from dona.index.lexical import tokenize
from dona.llm import LLMBackend, Prompt, Usage, create_backend
from dona.llm.extractive import extractive_answer
from dona.search import Filters, clean_query

if TYPE_CHECKING:
    from dona.service import Dona, SearchResponse

# ---- the turn ---------------------------------------------------------------------------

NOTICES = {
    "en": {
        "fallback": "The language model is unavailable ({reason}); here are the matching products.",
        "unverified": "The model's wording could not be checked against the catalog "
        "({reason}); here are the facts instead.",
    },
    "es": {
        "fallback": "El modelo de lenguaje no está disponible ({reason}); estos son los "
        "productos que coinciden.",
        "unverified": "No se pudo comprobar la respuesta del modelo con el catálogo "
        "({reason}); estos son los datos.",
    },
}


@dataclass
class Turn:
    question: str
    understanding: Understanding
    answer: str
    product_ids: list[str]  # the products shown, in order


@dataclass
class Conversation:
    """One shopper's chat. Plain data: the UI keeps it in its session state."""

    catalog: str | None = None
    turns: list[Turn] = field(default_factory=list)

    @property
    def shown(self) -> list[str]:
        return self.turns[-1].product_ids if self.turns else []

    @property
    def last_topic(self) -> Understanding | None:
        for turn in reversed(self.turns):
            if not turn.understanding.references:
                return turn.understanding
        return None

    def history(self) -> list[tuple[str, str]]:
        return [(t.question, t.answer) for t in self.turns]


@dataclass
class ChatAnswer:
    question: str
    text: str  # the answer, citations [id] kept (the UI turns them into card links)
    products: list[Product]  # what to show as cards, from the database, in order
    context_ids: list[str]  # what the model was given
    cited_ids: list[str]
    language: str
    backend: str
    model: str
    fallback: bool = False
    notice: str | None = None
    nothing_fits: bool = False
    model_text: str = ""  # what the model wrote, before the checks (for the evaluation)
    understanding: Understanding | None = None
    usage: Usage = field(default_factory=Usage)
    dropped_citations: list[str] = field(default_factory=list)
    unsupported_prices: list[str] = field(default_factory=list)
    time_to_first_token_s: float | None = None
    total_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "answer": self.text,
            "products": [
                {
                    "id": p.id,
                    "title": p.title,
                    "brand": p.brand,
                    "price": p.price,
                    "currency": p.currency,
                    "url": p.url,
                    "image_url": p.image_url,
                    "cited": p.id in self.cited_ids,
                }
                for p in self.products
            ],
            "backend": self.backend,
            "model": self.model,
            "fallback": self.fallback,
            "notice": self.notice,
            "nothing_fits": self.nothing_fits,
            "language": self.language,
        }


class ChatResponse:
    """One answer as it is produced (simonw/llm's `Response` is the model).

    `products` are the retrieved products, known before the first piece (a page shows
    their cards while the model is still reading). Iterate for the answer's text pieces
    as they arrive; `finish()` runs it to the end and returns the checked `ChatAnswer`.
    Iterating again replays the pieces."""

    def __init__(self, pieces: Generator[str, None, ChatAnswer], products: list[Product]):
        self._pieces = pieces
        self._seen: list[str] = []
        self._answer: ChatAnswer | None = None
        self.products = products

    def __iter__(self) -> Iterator[str]:
        if self._answer is not None:
            yield from self._seen
            return
        while True:
            try:
                piece = next(self._pieces)
            except StopIteration as done:
                self._answer = done.value
                return
            self._seen.append(piece)
            yield piece

    @property
    def done(self) -> bool:
        return self._answer is not None

    def finish(self) -> ChatAnswer:
        for _ in self:
            pass
        assert self._answer is not None
        return self._answer


_WHY = {
    "en": {"cited": "cited in the answer", "matches": "matches", "under": "up to",
           "from": "from", "brand": "brand", "closest": "closest alternative"},
    "es": {"cited": "citado en la respuesta", "matches": "coincide con", "under": "hasta",
           "from": "desde", "brand": "marca", "closest": "alternativa más cercana"},
}  # fmt: skip


def why_shown(
    product: Product,
    understanding: Understanding | None,
    nothing_fits: bool = False,
    cited: bool = False,
) -> str:
    """Why a card is under the answer, in a few words of the shopper's language: cited,
    the request's words the product contains, the limits it meets, or that it is only the
    closest alternative. Computed from the product's own data, never from the model."""
    words = _WHY.get(understanding.language if understanding else "en", _WHY["en"])
    parts = [words["cited"]] if cited else []
    if understanding is None:
        return " · ".join(parts)
    if nothing_fits:
        return " · ".join([*parts, words["closest"]])
    brand_words = {w for b in understanding.brands for w in b.lower().split()}  # said below
    asked = [
        w
        for w in dict.fromkeys(re.findall(r"\w{3,}", understanding.search_text.lower()))
        if w not in brand_words
    ]
    have = set(tokenize([product_text(product)])[0])
    matched = [
        w for w, stems in zip(asked, tokenize(asked), strict=True) if stems and stems[0] in have
    ]
    if matched:
        parts.append(f"{words['matches']} {', '.join(matched[:4])}")
    if understanding.brands and product.brand in understanding.brands:
        parts.append(f"{words['brand']} {product.brand}")
    price = product.price
    if (
        price is not None
        and understanding.max_price is not None
        and price <= understanding.max_price
    ):
        parts.append(f"{words['under']} {format_price(understanding.max_price, product.currency)}")
    if (
        price is not None
        and understanding.min_price is not None
        and price >= understanding.min_price
    ):
        parts.append(f"{words['from']} {format_price(understanding.min_price, product.currency)}")
    return " · ".join(parts)


# "Nothing fits" when no word of the request occurs in the best matches (stemmed, as BM25
# reads them) and they are also semantically far (all-MiniLM-L6-v2 cosine below this).
# On the demo catalog this flags "lawn mower", "pizza", "perfume", "concert tickets" and
# one of the 85 dev queries ("the boys"); alternatives are offered either way.
MIN_DENSE_WITHOUT_WORDS = 0.45
RELATIVE_SCORE_FLOOR = 0.4  # context products score at least this share of the best


class ChatEngine:
    """Answers turns of a `Conversation` with a backend; shares one `Dona` service."""

    def __init__(self, dona: Dona, backend: LLMBackend | str | None = None):
        self.dona = dona
        self.settings = dona.settings
        self._backend_name = backend if isinstance(backend, str) else None
        self._backend: LLMBackend | None = backend if not isinstance(backend, str) else None
        self._backend_error: str | None = None
        self._brand_cache: dict[tuple[str, int], tuple[list[str], Any]] = {}

    @property
    def backend(self) -> LLMBackend | None:
        """The configured backend, or None (and a reason) when it cannot start."""
        if self._backend is None and self._backend_error is None:
            try:
                self._backend = create_backend(self.settings, self._backend_name)
            except DonaError as exc:
                self._backend_error = str(exc)
        return self._backend

    def _brands(self, catalog: str | None) -> tuple[list[str], Any]:
        served = self.dona.served(catalog)
        key = (served.manifest["catalog"], served.version_id)
        if key not in self._brand_cache:
            brands = self.dona.brands(catalog)
            self._brand_cache[key] = (brands, compile_brand_pattern(brands))
        return self._brand_cache[key]

    def ask(
        self,
        question: str,
        conversation: Conversation | None = None,
        limits: Filters | None = None,
    ) -> ChatAnswer:
        return self.stream(question, conversation, limits).finish()

    def stream(
        self,
        question: str,
        conversation: Conversation | None = None,
        limits: Filters | None = None,
    ) -> ChatResponse:
        """Prepare the turn now (so bad input raises here), stream the wording lazily.

        `limits`: filters the shopper set outside the conversation (the UI's sidebar); the
        question can narrow them ("under 30") but never widen them."""
        conversation = conversation if conversation is not None else Conversation()
        started = time.perf_counter()
        brands, pattern = self._brands(conversation.catalog)
        shown = conversation.shown
        intent = understand(question, brands, conversation.last_topic, len(shown), pattern)
        if limits is not None:
            apply_limits(intent, limits)
        products, nothing_fits = self._retrieve(intent, conversation)
        facts = [
            product_facts(p, max_specs=16 if intent.references else MAX_SPECS) for p in products
        ]
        currency = products[0].currency if products else self.settings.default_currency
        constraint = intent.constraint(currency)
        note = ""
        if nothing_fits:
            note = (
                f"No product matches {constraint}. Say so, then suggest these closest alternatives."
            )
        elif not facts:
            note = "The catalog has nothing related."
        prompt = Prompt(
            messages=build_messages(
                clean_query(question), facts, intent.language, conversation.history(), note
            ),
            products=facts,
            language=intent.language,
            nothing_fits=nothing_fits,
            constraint=constraint,
            max_tokens=self.settings.llm_max_tokens,
            temperature=self.settings.llm_temperature,
        )
        answer = ChatAnswer(
            question=question,
            text="",
            products=products,
            context_ids=[p.id for p in products],
            cited_ids=[],
            language=intent.language,
            backend="extractive",
            model="none",
            nothing_fits=nothing_fits,
            understanding=intent,
        )
        return ChatResponse(self._turn(prompt, answer, conversation, started), products)

    def _retrieve(
        self, intent: Understanding, conversation: Conversation
    ) -> tuple[list[Product], bool]:
        catalog = conversation.catalog
        k = self.settings.chat_products
        if intent.references:
            ids = [conversation.shown[i] for i in intent.references]
            found = self.dona.products_by_id(catalog, ids)
            return [found[i] for i in ids if i in found], False
        query = intent.search_text or "product"
        filters = intent.filters
        if intent.cheaper and conversation.shown:
            prices = [
                p.price
                for p in self.dona.products_by_id(catalog, conversation.shown).values()
                if p.price is not None
            ]
            if prices:
                limit = min(prices) - 0.01
                if intent.max_price is None or intent.max_price > limit:
                    intent.max_price = max(limit, 0.0)
                    filters = intent.filters
        response = self.dona.search(query, catalog=catalog, k=k, filters=filters)
        relevant = bool(response.results) and self._relevant(response, query)
        if relevant:
            # Fused scores: a product both retrievers rank high scores ~3/61, one only the
            # dense side found far down ~1/65. Keep the context to those near the top.
            floor = RELATIVE_SCORE_FLOOR * response.results[0].score
            return [r.product for r in response.results if r.score >= floor], False
        if not filters.active and response.results:  # unfiltered, and still nothing close
            return [r.product for r in response.results[:3]], True
        # the filters leave nothing (or nothing relevant): offer the closest without them
        closest = self.dona.search(query, catalog=catalog, k=3)
        return [r.product for r in closest.results], True

    def _relevant(self, response: SearchResponse, query: str) -> bool:
        """Is the best of the top hits plausibly what was asked for? (see above)"""
        top = response.results[:3]
        wanted = set(tokenize([query])[0])
        texts = tokenize([product_text(r.product) for r in top])
        if wanted and any(wanted & set(words) for words in texts):
            return True
        served = self.dona.served(response.catalog)
        qvec = self.dona.embedder.embed_query(query)
        vectors = np.asarray(served.vectors[[r.position for r in top]])
        return float(np.max(vectors @ qvec)) >= MIN_DENSE_WITHOUT_WORDS

    def _turn(
        self, prompt: Prompt, answer: ChatAnswer, conversation: Conversation, started: float
    ) -> Generator[str, None, ChatAnswer]:
        """Yield the answer's pieces; return the checked answer, recorded as a turn."""
        intent = answer.understanding
        assert intent is not None
        notices = NOTICES.get(intent.language, NOTICES["en"])
        model_text = yield from self._model_pieces(prompt, answer, notices, started)
        text = self._checked(model_text, answer, intent, notices)
        if not text:  # no model, a failure, or an answer we do not trust
            text = extractive_answer(prompt)
            if not model_text:
                if answer.time_to_first_token_s is None:
                    answer.time_to_first_token_s = time.perf_counter() - started
                yield text
            answer.cited_ids = citations(text, set(answer.context_ids))[0]
        answer.text = text
        if answer.cited_ids:  # cited products first, then the rest of the context
            rest = [p for p in answer.products if p.id not in answer.cited_ids]
            by_id = {p.id: p for p in answer.products}
            answer.products = [by_id[i] for i in answer.cited_ids] + rest
        answer.total_s = time.perf_counter() - started
        conversation.turns.append(
            Turn(answer.question, intent, text, [p.id for p in answer.products])
        )
        return answer

    def _model_pieces(
        self, prompt: Prompt, answer: ChatAnswer, notices: dict[str, str], started: float
    ) -> Generator[str, None, str]:
        """Stream the backend's pieces; return all it wrote. A failure is recorded on the
        answer as a fallback with its notice, never raised."""
        backend = self.backend
        pieces: list[str] = []
        if backend is None:
            answer.fallback = True
            answer.notice = notices["fallback"].format(reason=self._backend_error)
        elif backend.name != "extractive":
            answer.backend, answer.model = backend.name, backend.model
            try:
                for piece in backend.stream(prompt, answer.usage):
                    if answer.time_to_first_token_s is None:
                        answer.time_to_first_token_s = time.perf_counter() - started
                    pieces.append(piece)
                    yield piece
            except LLMError as exc:
                answer.fallback, answer.notice = True, notices["fallback"].format(reason=exc)
            except Exception as exc:  # noqa: BLE001 - the shopper still gets products
                answer.fallback = True
                answer.notice = notices["fallback"].format(reason=type(exc).__name__)
        answer.model_text = "".join(pieces).strip()
        return answer.model_text

    @staticmethod
    def _checked(
        text: str, answer: ChatAnswer, intent: Understanding, notices: dict[str, str]
    ) -> str:
        """The model's text with unknown citations removed, or "" when it states a price
        no product in the context has (then the extractive answer replaces it)."""
        if not text or answer.fallback:
            return ""
        good, bad = citations(text, set(answer.context_ids))
        answer.dropped_citations = bad
        text = strip_citations(text, bad)
        limits = [v for v in (intent.min_price, intent.max_price) if v is not None]
        allowed = [p.price for p in answer.products if p.price is not None] + limits
        answer.unsupported_prices = unsupported_prices(text, allowed)
        if answer.unsupported_prices:
            reason = ", ".join(answer.unsupported_prices[:2])
            answer.notice = notices["unverified"].format(reason=reason)
            answer.fallback = True
            return ""
        answer.cited_ids = good
        return TEMPLATE_BRACKETS.sub(r"\1", text)  # "<name> costs ..." copied literally
