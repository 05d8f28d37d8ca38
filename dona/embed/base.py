"""The embedder seam: the `Embedder` protocol, its registry and the cached instance per settings.

Every model loads strictly offline, from an installed package or a local path: nothing
here may reach a model hub at run time.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from dona.registry import Registry

if TYPE_CHECKING:
    from dona.config import Settings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

ProgressCallback = Callable[[int, int], None]  # (done, total)


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors.

    `model_id` names the model *and* every setting that changes its vectors (precision,
    token limit): it keys the embedding cache and is checked against index manifests.
    """

    model_id: str
    dims: int

    def embed_documents(
        self, texts: Sequence[str], progress: ProgressCallback | None = None
    ) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


embedders: Registry[Embedder] = Registry("embedder", "dona.embedders")


def normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def create_embedder(settings: Settings) -> Embedder:
    """The embedder named by settings (`DONA_EMBEDDER`), or a local model directory path
    (any sentence-transformers directory, through the `sentence-transformers` entry)."""
    name = settings.embedder
    if os.path.isdir(name):
        return embedders.create("sentence-transformers", settings, path=name)
    return embedders.create(name, settings)


_cache: dict[tuple, Embedder] = {}
_cache_lock = threading.Lock()


def get_embedder(settings: Settings, name: str | None = None) -> Embedder:
    """Process-wide shared embedder per configuration (loading a model takes seconds):
    the catalog's (`DONA_EMBEDDER`), or the registered one called `name`."""
    key = (
        name or settings.embedder,
        settings.embed_max_tokens,
        settings.embed_batch_size,
        settings.threads,
        settings.model_cache_dir,
    )
    with _cache_lock:
        if key not in _cache:
            _cache[key] = embedders.create(name, settings) if name else create_embedder(settings)
        return _cache[key]
