"""Grounded product chat: understand the shopper, compute the answer, let a model word it.

One turn:

1. **Understand** (rules, no model): the answer language (Spanish or English), price
   limits, brands, the kind of product ("auriculares" = headphones = headset), the
   features asked for ("bluetooth", "resistente al agua", "64 GB", "15,6 pulgadas"),
   cheapest / most expensive, references to products already shown ("el segundo", "it",
   "both") and follow-ups ("cheaper ones?", "¿y de Sony?", "¿y con bluetooth?").
2. **Compute** (dona/chat/findings.py): the hybrid search gathers candidates under the
   limits; DONA keeps those of the asked kind that have every asked feature, by the
   catalog's own attributes and text; orders them when the cheapest or priciest is
   asked; compares two shown products; and decides itself when nothing fits (then the
   closest alternatives: the same thing over the limit, or without the missing feature).
3. **Word** it: the model gets one constant system prompt and the computed facts (short
   lines, products tagged [1], [2], no catalog ids), and writes one or two sentences in
   the shopper's language. Catalog and chat text are data: cleaned, never in the system
   prompt.
4. **Check** what it wrote: unknown citations are dropped; a price, brand, model name or
   feature that is not in the facts, saying nothing fits when the products fit, an
   answer without any product, or the wrong language means the wording is not shown:
   the computed answer replaces it (counted as a repair). Cards (name, price, specs) are
   always rendered from the database.

Any backend failure (server down, timeout, bad key, missing model) gives the computed
answer plus a one-line notice: the shopper always gets products, never a traceback.
"""

from __future__ import annotations

import contextlib
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
    denies,
    mentions,
    resolve_labels,
    strip_citations,
    unknown_brands,
    unknown_names,
    unsupported_features,
    unsupported_prices,
    wrong_language,
)
from dona.chat.findings import (
    Findings,
    Item,
    answer_text,
    facts_block,
    feature_checks,
    price_of,
    product_specs,
    short_title,
    words,
)
from dona.chat.prompt import (
    build_messages,
    clean_product,
    clean_text,
    constant_messages,
    looks_like_injection,
    product_facts,
)
from dona.chat.understanding import (
    Understanding,
    apply_limits,
    compile_brand_pattern,
    language_scores,
    understand,
)
from dona.chat.vocabulary import fold, is_kind, product_data
from dona.errors import DonaError, LLMError, QueryError
from dona.formatting import format_price
from dona.index.lexical import tokenize
from dona.llm import LLMBackend, Prompt, Usage, create_backend
from dona.search import MAX_QUERY_CHARS, Filters, clean_query

if TYPE_CHECKING:
    from dona.service import Dona, SearchResponse

# ---- the turn ---------------------------------------------------------------------------

MAX_MESSAGE_CHARS = 1000  # a longer chat message is refused before anything reads it
MAX_TURNS = 20  # turns a conversation keeps (only the last topic and cards are used)
MODEL_PRODUCTS = 3  # products the model is told about (the cards may show more)
MAX_ANSWER_TOKENS = 96  # one or two sentences; decoding is most of a local model's time
CANDIDATES = 100  # search results read per query when a kind or feature is asked

NOTICES = {
    "en": {
        "fallback": "The language model is unavailable ({reason}); here are the matching products.",
    },
    "es": {
        "fallback": "El modelo de lenguaje no está disponible ({reason}); estos son los "
        "productos que coinciden.",
    },
}


@dataclass
class Turn:
    question: str  # cleaned and bounded
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

    @property
    def frame(self) -> list[str]:
        """The last list of products shown (what "the second one" counts in): answers
        about single products ("is it waterproof?") do not replace it."""
        for turn in reversed(self.turns):
            if not turn.understanding.references:
                return turn.product_ids
        return self.shown

    def history(self) -> list[tuple[str, str]]:
        return [(t.question, t.answer) for t in self.turns]

    def add(self, turn: Turn) -> None:
        self.turns.append(turn)
        del self.turns[:-MAX_TURNS]


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
    repairs: list[str] = field(default_factory=list)  # why the model's wording was replaced
    injection: bool = False  # the message talked to the model; it was not sent to it
    findings: Findings | None = None
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
            "repaired": bool(self.repairs),
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

    @property
    def text(self) -> str:
        """The pieces produced so far (what a stopped answer got to)."""
        return "".join(self._seen)

    def close(self) -> None:
        """Stop: the backend's stream is closed now (a local model's lock is released at
        once, not when the garbage collector gets to it). The turn is not recorded."""
        if self._answer is None:
            self._pieces.close()

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
# one of the 85 dev queries ("the boys"); alternatives are offered either way. Requests
# that name a known kind of product or a feature are decided by the catalog's own data.
MIN_DENSE_WITHOUT_WORDS = 0.45
RELATIVE_SCORE_FLOOR = 0.4  # context products score at least this share of the best


_CHEAPEST = re.compile(
    r"\b(cheapest|least expensive|lowest price|m[aá]s barat[oa]|m[aá]s econ[oó]mic[oa]|"
    r"menor precio)\b",
    re.I,
)
_PRICIEST = re.compile(
    r"\b(most expensive|priciest|highest price|m[aá]s car[oa]|mayor precio)\b", re.I
)


@dataclass
class Retrieved:
    products: list[Product]
    status: str  # "match", "nothing", "about", "empty"
    reason: str = ""
    nearest: str = ""


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

    def warm(self, catalog: str | None = None) -> None:
        """Load the search and the model and compute the system prompt's state now, so
        the first shopper does not wait for them."""
        with contextlib.suppress(DonaError):
            self._brands(catalog)
            self.dona.search("warm up", catalog=catalog, k=1)
        backend = self.backend
        warm = getattr(backend, "warm", None)
        if callable(warm):
            with contextlib.suppress(LLMError):  # the first turn reports it, with a fallback
                warm(Prompt(messages=constant_messages(), products=[], language="en"))

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
        if isinstance(question, str) and len(question) > MAX_MESSAGE_CHARS:
            raise QueryError(
                f"the message is too long: at most {MAX_MESSAGE_CHARS} characters, please"
            )
        question = clean_query(question)
        injection = looks_like_injection(question)
        # what a message says to a model is not part of the request: the rules read the
        # rest, and the model is not asked at all
        request = clean_text(question, MAX_QUERY_CHARS) if injection else question
        conversation = conversation if conversation is not None else Conversation()
        started = time.perf_counter()
        brands, pattern = self._brands(conversation.catalog)
        intent = understand(
            request or question, brands, conversation.last_topic, len(conversation.frame),
            pattern,
        )  # fmt: skip
        if limits is not None:
            apply_limits(intent, limits)
        if injection:
            scores = language_scores(question)  # the whole message says the language
            intent.language = "es" if scores[0] > scores[1] else intent.language
            if not (intent.kind or intent.features or intent.brands):
                request = ""  # what is left is no product request: do not echo it
        # a message with nothing but instructions to a model gets no products
        found = self._retrieve(intent, conversation) if request else Retrieved([], "empty")
        findings = self._findings(intent, found)
        draft = answer_text(findings) if request else words(intent.language)["only_shop"]
        prompt = Prompt(
            messages=build_messages(question, findings),
            products=[product_facts(i.product) for i in findings.items],
            language=intent.language,
            nothing_fits=found.status == "nothing",
            constraint=intent.constraint(findings.currency or self.settings.default_currency),
            max_tokens=min(self.settings.llm_max_tokens, MAX_ANSWER_TOKENS),
            temperature=self.settings.llm_temperature,
            draft=draft,
        )
        answer = ChatAnswer(
            question=question,
            text="",
            products=found.products,
            context_ids=[p.id for p in found.products],
            cited_ids=[],
            language=intent.language,
            backend="extractive",
            model="none",
            nothing_fits=found.status == "nothing",
            understanding=intent,
            findings=findings,
            injection=injection,
        )
        return ChatResponse(
            self._turn(prompt, answer, conversation, started, pattern), found.products
        )

    # ---- computing the answer -----------------------------------------------------------

    def _search(self, query: str, catalog: str | None, k: int, filters: Filters | None):
        return self.dona.search(query or "product", catalog=catalog, k=k, filters=filters)

    def _candidates(self, intent: Understanding, catalog: str | None, filters: Filters):
        """Search results for the request and for each name of its kind with the asked
        features ("bluetooth headset" finds what "bluetooth headphones" misses), merged in
        rank order."""
        queries = [intent.search_text]
        if intent.kind is not None:
            wanted = " ".join(f.search for f in intent.features)
            queries += [
                f"{wanted} {name.strip()}".strip() for name in intent.kind.search.split(",")
            ]
        seen: dict[str, Product] = {}
        first = None
        for query in dict.fromkeys(queries):
            response = self._search(query, catalog, CANDIDATES, filters)
            first = first or response
            for result in response.results:
                seen.setdefault(result.product.id, result.product)
        return list(seen.values()), first

    def _retrieve(self, intent: Understanding, conversation: Conversation) -> Retrieved:
        catalog = conversation.catalog
        k = self.settings.chat_products
        if intent.references:
            source = conversation.shown if intent.refers_to_last else conversation.frame
            ids = [source[i] for i in intent.references if i < len(source)]
            found = self.dona.products_by_id(catalog, ids)
            return Retrieved([found[i] for i in ids if i in found], "about")
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
        if intent.head and not self._known_word(intent.head, catalog):
            # "lawn mowers", "drones with a camera": no product uses that word at all
            closest = self._search(intent.search_text, catalog, 3, None)
            products = [r.product for r in closest.results]
            intent.subject = intent.head
            return Retrieved(products, "nothing" if products else "empty")
        unknown = [n for n in intent.names if not self._known_word(n, catalog)]
        if unknown and not intent.brands:
            # "¿tenés parlantes JBL?": a brand no product has; ask for it, find nothing,
            # and offer the closest without it
            intent.brands = tuple(unknown)
            filters = intent.filters
        hard = [f for f in intent.features if not getattr(f, "soft", False)]
        if intent.kind is not None or hard:
            decided = self._by_catalog_data(intent, catalog, filters, hard, k)
            if decided is not None:
                return decided
        return self._by_relevance(intent, catalog, filters, k)

    def _by_catalog_data(
        self, intent: Understanding, catalog: str | None, filters: Filters, hard: list, k: int
    ) -> Retrieved | None:
        """Keep the candidates of the asked kind with every asked feature. None when the
        catalog has nothing of that kind at all (then relevance decides, as for any
        request the vocabulary does not know)."""
        pool, _ = self._candidates(intent, catalog, filters)
        data = {p.id: product_data(p) for p in pool}

        def of_kind(p: Product) -> bool:
            return intent.kind is None or is_kind(data[p.id], intent.kind)

        def fits(p: Product) -> bool:
            return of_kind(p) and all(f.has(data[p.id]) is True for f in hard)

        meets = [p for p in pool if fits(p)]
        if meets and intent.order in ("cheapest", "priciest"):
            meets += self._beyond(intent, catalog, filters, meets, fits, data)
        if meets:
            return Retrieved(self._ordered(meets, intent)[:k], "match")
        # nothing fits: the same thing beyond the limits, else the kind without the features
        if filters.active:
            wider, _ = self._candidates(intent, catalog, Filters())
            data.update({p.id: product_data(p) for p in wider if p.id not in data})
            over = [p for p in wider if fits(p)]
            if over:
                closest = self._closest_to_limits(over, intent)[:3]
                return Retrieved(closest, "nothing", nearest=self._nearest(closest[0], intent))
        kind_only = [p for p in pool if of_kind(p)]
        if kind_only:  # of the kind, without what was asked of it: the request says what
            return Retrieved(kind_only[:3], "nothing")
        if intent.kind is not None:
            anywhere, _ = self._candidates(intent, catalog, Filters())
            if not any(is_kind(product_data(p), intent.kind) for p in anywhere[:50]):
                return None  # this catalog names that kind otherwise: let relevance decide
            closest = [p for p in anywhere if is_kind(product_data(p), intent.kind)][:3]
            return Retrieved(closest, "nothing")
        return None

    def _known_word(self, word: str, catalog: str | None) -> bool:
        """Does any product of the catalog use this word (as BM25 reads it)?"""
        try:
            found = self.dona.search(word, catalog=catalog, k=1, mode="lexical")
        except DonaError:
            return True
        return bool(found.results)

    def _beyond(
        self, intent: Understanding, catalog: str | None, filters: Filters, meets: list,
        fits: Any, data: dict,
    ) -> list[Product]:  # fmt: skip
        """The cheapest (priciest) may be below (above) every search result read so far:
        search again past the extreme found, under the same limits, until none is left."""
        more: list[Product] = []
        seen = {p.id for p in meets}
        for _ in range(6):
            prices = [p.price for p in meets + more if p.price is not None]
            if not prices:
                break
            if intent.order == "cheapest":
                bound = min(prices) - 0.01
                if bound < 0:
                    break
                low = filters.min_price
                if low is not None and bound < low:
                    break
                narrowed = Filters(low, bound, filters.brands, filters.category, filters.in_stock)
            else:
                bound = max(prices) + 0.01
                high = filters.max_price
                if high is not None and bound > high:
                    break
                narrowed = Filters(bound, high, filters.brands, filters.category, filters.in_stock)
            pool, _ = self._candidates(intent, catalog, narrowed)
            new = [p for p in pool if p.id not in seen]
            data.update({p.id: product_data(p) for p in new})
            found = [p for p in new if fits(p)]
            if not found:
                break
            more += found
            seen.update(p.id for p in found)
        return more

    @staticmethod
    def _ordered(products: list[Product], intent: Understanding) -> list[Product]:
        if intent.order in ("cheapest", "priciest"):
            priced = [p for p in products if p.price is not None]
            priced.sort(key=lambda p: p.price, reverse=intent.order == "priciest")
            return priced + [p for p in products if p.price is None]
        if intent.model_codes:  # a product named by its model number comes first

            def named(p: Product) -> bool:
                title = p.title.lower()
                return any(code in title for code in intent.model_codes)

            return [p for p in products if named(p)] + [p for p in products if not named(p)]
        soft = [f for f in intent.features if getattr(f, "soft", False)]
        if soft:
            return sorted(products, key=lambda p: -sum(f.has(p) is True for f in soft))
        return products

    @staticmethod
    def _closest_to_limits(products: list[Product], intent: Understanding) -> list[Product]:
        def distance(p: Product) -> float:
            if p.price is None:
                return float("inf")
            if intent.max_price is not None and p.price > intent.max_price:
                return p.price - intent.max_price
            if intent.min_price is not None and p.price < intent.min_price:
                return intent.min_price - p.price
            return 0.0

        return sorted(products, key=distance)

    @staticmethod
    def _nearest(product: Product, intent: Understanding) -> str:
        es = intent.language == "es"
        price = price_of(product)
        if intent.max_price is not None and product.price and product.price > intent.max_price:
            return f"El más barato cuesta {price}." if es else f"The cheapest costs {price}."
        if intent.min_price is not None and product.price and product.price < intent.min_price:
            return f"El más caro cuesta {price}." if es else f"The most expensive costs {price}."
        return ""

    def _by_relevance(
        self, intent: Understanding, catalog: str | None, filters: Filters, k: int
    ) -> Retrieved:
        query = intent.search_text or "product"
        depth = 50 if intent.order else k
        response = self._search(query, catalog, depth, filters)
        relevant = bool(response.results) and self._relevant(response, query)
        if relevant:
            # Fused scores: a product both retrievers rank high scores ~3/61, one only the
            # dense side found far down ~1/65. Keep the context to those near the top.
            floor = RELATIVE_SCORE_FLOOR * response.results[0].score
            kept = [r.product for r in response.results if r.score >= floor]
            return Retrieved(self._ordered(kept, intent)[:k], "match")
        if not filters.active and response.results:  # unfiltered, and still nothing close
            return Retrieved([r.product for r in response.results[:3]], "nothing")
        # the filters leave nothing (or nothing relevant): offer the closest without them
        closest = self._search(query, catalog, 3, None)
        products = [r.product for r in closest.results]
        return Retrieved(products, "nothing" if products else "empty")

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

    def _findings(self, intent: Understanding, found: Retrieved) -> Findings:
        """The computed facts the model words (and the extractive answer states)."""
        about = found.status == "about"
        items = []
        for label, product in enumerate(found.products[:MODEL_PRODUCTS], start=1):
            clean = clean_product(product)
            checks = feature_checks(product, intent.features) if intent.features else []
            specs = product_specs(clean) if about and not checks and not intent.compare else []
            items.append(Item(clean, label, checks, specs))
        currency = items[0].product.currency if items else self.settings.default_currency
        findings = Findings(
            language=intent.language,
            request=intent.constraint(currency),
            status=found.status if items else "empty",
            items=items,
            order=intent.order,
            reason=found.reason,
            nearest=found.nearest,
            asks=intent.asks,
            named=bool(
                items
                and intent.model_codes
                and any(c in items[0].product.title.lower() for c in intent.model_codes)
            ),
        )
        priced = [i for i in items if i.product.price is not None]
        if len(priced) > 1 and found.status in ("match", "about"):
            findings.cheapest = min(priced, key=lambda i: i.product.price).label
            findings.priciest = max(priced, key=lambda i: i.product.price).label
        if intent.compare and len(priced) >= 2:
            findings.difference = round(abs(priced[0].product.price - priced[1].product.price), 2)
        return findings

    # ---- wording and checking -----------------------------------------------------------

    def _turn(
        self,
        prompt: Prompt,
        answer: ChatAnswer,
        conversation: Conversation,
        started: float,
        brand_pattern: Any,
    ) -> Generator[str, None, ChatAnswer]:
        """Yield the answer's pieces; return the checked answer, recorded as a turn."""
        intent = answer.understanding
        assert intent is not None and answer.findings is not None
        notices = NOTICES.get(intent.language, NOTICES["en"])
        model_text = ""
        if not answer.injection:
            model_text = yield from self._model_pieces(prompt, answer, notices, started)
        text = self._checked(model_text, answer, brand_pattern) if model_text else ""
        if not text:  # no model, a failure, an injection, or an answer we do not trust
            text = prompt.draft or ""
            if not model_text:
                if answer.time_to_first_token_s is None:
                    answer.time_to_first_token_s = time.perf_counter() - started
                yield text
            answer.cited_ids = citations(text, set(answer.context_ids))[0]
        answer.text = text
        if answer.cited_ids:  # cited products first, then the rest of the context
            rest = [p for p in answer.products if p.id not in answer.cited_ids]
            by_id = {p.id: p for p in answer.products}
            answer.products = [by_id[i] for i in answer.cited_ids if i in by_id] + rest
        answer.total_s = time.perf_counter() - started
        conversation.add(Turn(answer.question, intent, text, [p.id for p in answer.products]))
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
        return "" if answer.fallback else answer.model_text

    def _checked(self, model_text: str, answer: ChatAnswer, brand_pattern: Any) -> str:
        """The model's text with its tags resolved and unknown citations removed, or ""
        when a check fails (the reasons are kept in `answer.repairs`)."""
        findings = answer.findings
        intent = answer.understanding
        assert findings is not None and intent is not None
        text = TEMPLATE_BRACKETS.sub(r"\1", resolve_labels(model_text, findings.labels))
        known = {i.product.id for i in findings.items}
        good, bad = citations(text, set(answer.context_ids))
        answer.dropped_citations = bad
        text = strip_citations(text, bad)
        problems = []
        limits = [v for v in (intent.min_price, intent.max_price) if v is not None]
        allowed = findings.prices() + [p.price for p in answer.products if p.price] + limits
        answer.unsupported_prices = unsupported_prices(text, allowed)
        problems += [f"price {p}" for p in answer.unsupported_prices]
        if denies(text) and not findings.denial_allowed():
            problems.append("denies what the products show")
        facts = facts_block(findings) + " " + answer.question
        brands = [i.product.brand or "" for i in findings.items] + list(intent.brands)
        problems += [f"brand {b}" for b in unknown_brands(text, brand_pattern, brands, facts)]
        prose = strip_citations(text, good)  # "[sp-1]" is a citation, not a model name
        problems += [f"name {n}" for n in unknown_names(prose, facts)]
        statuses = {
            i.product.id: {f.name: s for f, s in i.checks} | self._stated(i.product)
            for i in findings.items
        }
        claims = unsupported_features(text, statuses)
        problems += [f"feature {c.feature} for {c.product_id}" for c in claims]
        titles = [i.product.title for i in findings.items] + [
            short_title(i.product.title) for i in findings.items
        ]
        if wrong_language(text, intent.language, titles + brands):
            problems.append("language")
        if (
            findings.items
            and findings.status != "about"  # "yes, it has bluetooth" needs no name
            and not (set(good) & known)
            and not any(
                price_of(i.product) in text or mentions(text, i.product.title, i.product.brand)
                for i in findings.items
            )
        ):
            problems.append("names no product")
        problems += self._incomplete(text, findings, intent)
        answer.cited_ids = [i for i in good if i in known] or good
        if problems:
            answer.repairs = problems
            return ""
        return text

    @staticmethod
    def _incomplete(text: str, findings: Findings, intent: Understanding) -> list[str]:
        """What the shopper asked for that the wording leaves out or gets wrong: the price
        when a price, the cheapest or a comparison was asked; the brand when the brand;
        that nothing fits when nothing does; which one is the cheapest (priciest)."""
        problems = []
        prices = [price_of(i.product) for i in findings.items if i.product.price is not None]
        if findings.difference is not None:
            prices.append(format_price(findings.difference, findings.currency))
        wants_price = intent.asks == "price" or intent.order or intent.compare
        if wants_price and prices and not any(p in text for p in prices):
            problems.append("states no price")
        brand = findings.items[0].product.brand if findings.items else None
        if intent.asks == "brand" and brand and brand.casefold() not in text.casefold():
            problems.append("does not name the brand")
        if findings.status == "nothing" and not denies(text):
            problems.append("does not say that nothing fits")
        gap = findings.difference
        if intent.compare and gap and format_price(gap, findings.currency) not in text:
            problems.append("does not state the difference")
        if findings.status == "about" and intent.features:
            plain = text.casefold()
            if not any(
                f.name.casefold() in plain or f.es.casefold() in plain
                or (hasattr(f, "asked") and f.asked.search(fold(text)))
                for f in intent.features
            ):  # fmt: skip
                problems.append("does not answer about the feature")
        words_in = re.findall(r"\w+", text.casefold())
        if len(words_in) >= 8 and max(map(words_in.count, set(words_in))) > len(words_in) / 2:
            problems.append("repeats itself")
        for sentence in re.split(r"(?<=[.!?;])\s+|\n+", text):
            named = {
                i.label
                for i in findings.items
                if i.product.id in citations(sentence, {i.product.id})[0]
                or (i.product.price is not None and price_of(i.product) in sentence)
                or mentions(sentence, i.product.title, i.product.brand)
            }
            if _CHEAPEST.search(sentence) and named and findings.cheapest not in (None, *named):
                problems.append("calls another product the cheapest")
            if _PRICIEST.search(sentence) and named and findings.priciest not in (None, *named):
                problems.append("calls another product the most expensive")
        return problems

    @staticmethod
    def _stated(product: Product) -> dict[str, bool | None]:
        """Every feature the vocabulary knows, as this product's own data states it."""
        from dona.chat.vocabulary import COLOURS, FEATURES, product_has

        data = product_data(product)
        return {f.name: product_has(data, f) for f in (*FEATURES, *COLOURS)}
