"""BM25 over the product text (bm25s, Snowball English stemmer, English stop words)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

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


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    import bm25s

    return bm25s.tokenize(
        list(texts), stopwords="en", stemmer=_stemmer(), return_ids=False, show_progress=False
    )


class BM25Index:
    def __init__(self, retriever, count: int):
        self._retriever = retriever
        self.count = count

    @classmethod
    def build(cls, texts: Sequence[str], directory: Path) -> BM25Index:
        import bm25s

        retriever = bm25s.BM25()
        tokens = bm25s.tokenize(
            list(texts), stopwords="en", stemmer=_stemmer(), show_progress=False
        )
        retriever.index(tokens, show_progress=False)
        retriever.save(str(directory / BM25_DIR), show_progress=False)
        return cls(retriever, len(texts))

    @classmethod
    def load(cls, directory: Path, count: int) -> BM25Index:
        import bm25s

        retriever = bm25s.BM25.load(str(directory / BM25_DIR), mmap=True, show_progress=False)
        return cls(retriever, count)

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every product (0 where no query term matches), times the share of
        query terms the product matches (Lucene's classic coordination factor): a product
        matching "bluetooth speaker" fully outranks one that only says "bluetooth"."""
        tokens = list(
            dict.fromkeys(t for t in tokenize([query])[0] if t in self._retriever.vocab_dict)
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
