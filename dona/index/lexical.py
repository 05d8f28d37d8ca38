"""BM25 over the product text (bm25s), analysed for the catalog's language: accents folded
("lampara" finds "Lámpara"), that language's stop words and Snowball stemmer.

The analyzer is recorded in the version's manifest (`lexical`), so a version is always
queried with the analyzer it was built with."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from dona.catalog.text import fold_accents

BM25_DIR = "bm25"
BM25_FILES = [
    f"{BM25_DIR}/{name}"
    for name in (
        "data.csc.index.npy",
        "indices.csc.index.npy",
        "indptr.csc.index.npy",
        "vocab.index.json",
        "params.index.json",
    )
]

logging.getLogger("bm25s").setLevel(logging.WARNING)


LANGUAGES = {"en": "english", "es": "spanish"}  # analyzer language -> Snowball stemmer
ANALYZER_VERSION = "fold+stop+snowball/v2"


@lru_cache(maxsize=4)
def _stemmer(language: str):
    import Stemmer

    return Stemmer.Stemmer(LANGUAGES[language])


@lru_cache(maxsize=4)
def stopwords(language: str) -> frozenset[str]:
    """The language's stop words, accent-folded like the text they are removed from."""
    import bm25s.stopwords as lists

    words = lists.STOPWORDS_SPANISH if language == "es" else lists.STOPWORDS_EN
    return frozenset(fold_accents(w) for w in words)


def check_language(language: str) -> str:
    if language not in LANGUAGES:
        raise ValueError(f"no analyzer for language {language!r}; have {sorted(LANGUAGES)}")
    return language


def _tokenize(texts: Sequence[str], language: str, return_ids: bool):
    import bm25s

    check_language(language)
    return bm25s.tokenize(
        [fold_accents(t) for t in texts],
        stopwords=list(stopwords(language)),
        stemmer=_stemmer(language),
        return_ids=return_ids,
        show_progress=False,
    )


def tokenize(texts: Sequence[str], language: str = "en") -> list[list[str]]:
    """Texts -> analysed terms (folded, stop words removed, stemmed), as BM25 reads them."""
    return _tokenize(texts, language, return_ids=False)


class BM25Index:
    def __init__(self, retriever, count: int, language: str = "en"):
        self._retriever = retriever
        self.count = count
        self.language = language

    @classmethod
    def build(cls, texts: Sequence[str], directory: Path, language: str = "en") -> BM25Index:
        import bm25s

        retriever = bm25s.BM25()
        retriever.index(_tokenize(texts, language, return_ids=True), show_progress=False)
        retriever.save(str(directory / BM25_DIR), show_progress=False)
        return cls(retriever, len(texts), language)

    @classmethod
    def load(cls, directory: Path, count: int, language: str = "en") -> BM25Index:
        import bm25s

        retriever = bm25s.BM25.load(str(directory / BM25_DIR), mmap=True, show_progress=False)
        return cls(retriever, count, check_language(language))

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every product (0 where no query term matches), times the share of
        query terms the product matches (Lucene's classic coordination factor): a product
        matching "bluetooth speaker" fully outranks one that only says "bluetooth"."""
        tokens = list(
            dict.fromkeys(
                t for t in tokenize([query], self.language)[0] if t in self._retriever.vocab_dict
            )
        )
        total = np.zeros(self.count, dtype=np.float32)
        matched = np.zeros(self.count, dtype=np.float32)
        for token in tokens:
            term = np.asarray(self._retriever.get_scores([token]), dtype=np.float32)
            total += term
            matched += term > 0
        if tokens:
            total *= matched / len(tokens)
        return total

    def count_with_all(self, text: str) -> int:
        """How many products contain every term of `text` (0 when one is unknown)."""
        tokens = list(dict.fromkeys(tokenize([text], self.language)[0]))
        if not tokens or any(t not in self._retriever.vocab_dict for t in tokens):
            return 0
        present = np.ones(self.count, dtype=bool)
        for token in tokens:
            present &= np.asarray(self._retriever.get_scores([token])) > 0
        return int(present.sum())

    def search(
        self, query: str, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        scores = self.scores(query)
        if allowed is not None:
            scores = np.where(allowed, scores, 0.0)
        hits = np.flatnonzero(scores > 0)
        if hits.size > k:
            hits = hits[np.argpartition(-scores[hits], k - 1)[:k]]
        hits = hits[np.argsort(-scores[hits], kind="stable")]
        return hits.astype(np.int64), scores[hits]
