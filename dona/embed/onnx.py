"""The bundled MiniLM exported to ONNX: int8 documents / fp32 queries (the default), or fp32 both."""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dona.embed.base import ProgressCallback, embedders, normalise
from dona.embed.sbert import bundled_minilm_path, sentence_transformer_dims
from dona.errors import ModelUnavailableError

_ONNX_RECIPE = "bert-meanpool/opset17/fused+int8-s8pc-l0fp32/v3"
_WEIGHT_OPS = ("Attention", "MatMul")  # ops that carry the encoder's weight matrices

if TYPE_CHECKING:
    from dona.config import Settings


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
        self.dims = sentence_transformer_dims(model_path)
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
        return normalise(session.run(None, {"input_ids": ids, "attention_mask": mask})[0])

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


def _bundled_minilm_onnx(settings: Settings, precision: str) -> OnnxEmbedder:
    return OnnxEmbedder(
        bundled_minilm_path(),
        "all-MiniLM-L6-v2",
        precision,
        settings.embed_max_tokens,
        settings.embed_batch_size,
        settings.threads,
        settings.model_cache_dir,
    )


@embedders.register(
    "minilm-onnx",
    "all-MiniLM-L6-v2 on ONNX Runtime, int8 documents / fp32 queries (default, fast)",
    size="88 MB",
    languages=("en",),
    dims=384,
)
def minilm_onnx(settings: Settings) -> OnnxEmbedder:
    """all-MiniLM-L6-v2 on ONNX Runtime, int8 document vectors: the fast CPU choice."""
    return _bundled_minilm_onnx(settings, "int8")


@embedders.register(
    "minilm-onnx-fp32",
    "all-MiniLM-L6-v2 on ONNX Runtime in float32 (same vectors as `minilm`, faster)",
    size="88 MB",
    languages=("en",),
    dims=384,
)
def minilm_onnx_fp32(settings: Settings) -> OnnxEmbedder:
    """all-MiniLM-L6-v2 on ONNX Runtime in float32: identical vectors to `minilm`, faster."""
    return _bundled_minilm_onnx(settings, "fp32")
