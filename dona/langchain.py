"""A LangChain retriever over DONA's hybrid product search (optional extra).

`DonaRetriever` turns `Dona.search` results into LangChain `Document`s, so the live catalog
can feed any LangChain chain or agent::

    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate
    from langchain_core.runnables import RunnablePassthrough

    from dona.langchain import DonaRetriever
    from dona.search import Filters
    from dona.service import Dona

    retriever = DonaRetriever(service=Dona(), k=4, filters=Filters(max_price=100))
    docs = retriever.invoke("waterproof bluetooth speaker", k=2, brands=["Acme"])

    prompt = ChatPromptTemplate.from_template(
        "Recommend a product using only these:\\n{products}\\n\\nShopper: {question}"
    )
    chain = (
        {
            "products": retriever | (lambda ds: "\\n".join(d.page_content for d in ds)),
            "question": RunnablePassthrough(),
        }
        | prompt
        | llm  # any LangChain chat model
        | StrOutputParser()
    )
    chain.invoke("a speaker for the pool under $100")

Only this module imports `langchain_core`; the rest of `dona` runs without it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

try:
    from langchain_core.callbacks import CallbackManagerForRetrieverRun
    from langchain_core.documents import Document
    from langchain_core.retrievers import BaseRetriever
except ImportError as exc:  # say what to install instead of a bare module name
    raise ImportError(
        "dona.langchain needs langchain-core; install it with 'pip install langchain-core'"
    ) from exc

from dona.catalog.text import product_text
from dona.search import Filters
from dona.service import Dona, SearchResponse, SearchResult

# Per-call keyword arguments that narrow the search; each overrides the same field of the
# retriever's `filters` (see `Filters` for their meaning).
FILTER_KWARGS = frozenset(f.name for f in dataclasses.fields(Filters))
# LangChain itself forwards these from `invoke(..., **kwargs)`; they are not ours to reject.
LANGCHAIN_KWARGS = frozenset({"verbose"})


class DonaRetriever(BaseRetriever):
    """Retrieve products from a DONA catalog's live version as LangChain `Document`s.

    `page_content` is the text DONA indexes for the product (`dona.catalog.text.product_text`), so
    a chain reads what the search matched; `metadata` carries the structured fields a
    chain or UI needs to cite, price or link the product; `id` is the product id.

    Per call, `invoke(query, k=..., filters=Filters(...), max_price=..., brands=[...])`
    overrides the retriever's defaults. DONA's own errors (`dona.errors.DonaError`: an
    unknown catalog, an empty query, a bad filter) propagate unchanged.
    """

    service: Dona
    """The DONA service that owns the catalogs (one per process; thread-safe to search)."""
    catalog: str | None = None
    """Catalog to search; None means DONA's default (`DONA_CATALOG`, or the only one)."""
    k: int = 4
    """How many products to return (1 to 1000)."""
    filters: Filters | None = None
    """Structured filters applied before ranking (price range, brands, category, stock)."""
    mode: str = "hybrid"
    """'hybrid' (BM25 + dense, fused), 'dense' or 'lexical'."""

    def _get_relevant_documents(
        self,
        query: str,
        *,
        run_manager: CallbackManagerForRetrieverRun,
        k: int | None = None,
        filters: Filters | None = None,
        **kwargs: Any,
    ) -> list[Document]:
        response = self.service.search(
            query,
            catalog=self.catalog,
            k=self.k if k is None else k,
            filters=self._filters(filters, kwargs),
            mode=self.mode,  # type: ignore[arg-type]  # DONA rejects unknown modes itself
        )
        return [to_document(result, response) for result in response.results]

    def _filters(self, filters: Filters | None, kwargs: dict[str, Any]) -> Filters | None:
        """The call's filters: `filters` (or the retriever's), with any filter keywords
        laid over them. Unknown keywords are an error: a misspelt filter must not silently
        widen the results."""
        unknown = set(kwargs) - FILTER_KWARGS - LANGCHAIN_KWARGS
        if unknown:
            raise TypeError(
                f"DonaRetriever got unexpected keyword arguments {sorted(unknown)}; "
                f"use k, filters or {', '.join(sorted(FILTER_KWARGS))}"
            )
        base = filters if filters is not None else self.filters
        overrides = {name: kwargs[name] for name in FILTER_KWARGS if name in kwargs}
        if not overrides:
            return base
        if "brands" in overrides:
            overrides["brands"] = _as_tuple(overrides["brands"])
        # replace() re-runs Filters' validation, so a bad range raises DONA's QueryError
        return dataclasses.replace(base or Filters(), **overrides)


def _as_tuple(brands: str | Iterable[str] | None) -> tuple[str, ...]:
    if brands is None:
        return ()
    if isinstance(brands, str):  # one brand, not its characters
        return (brands,)
    return tuple(brands)


def to_document(result: SearchResult, response: SearchResponse) -> Document:
    """One search result as a `Document` (metadata values are JSON-friendly)."""
    product = result.product
    return Document(
        id=product.id,
        page_content=product_text(product),
        metadata={
            "id": product.id,
            "title": product.title,
            "brand": product.brand,
            "price": product.price,
            "currency": product.currency,
            "category": product.category,
            "url": product.url,
            "image_url": product.image_url,
            "score": float(result.score),
            "catalog": response.catalog,
            "catalog_version": response.version,
        },
    )
