"""Phase 3b: search on a prefix of the dimensions (native, or PCA-rotated for a normal model), optionally rescored."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dona.errors import ConfigError, IndexIntegrityError
from dona.index.base import load_vectors, phases
from dona.index.binary import (
    BinaryStage,
    binary_threshold,
    load_binary_threshold,
)
from dona.index.int8 import (
    Int8Codec,
    Int8Stage,
)
from dona.index.quantized import (
    F32Stage,
    QuantizedIndex,
    as_floats,
    calibration_sample,
    config_choice,
    config_multiplier,
    encode_all,
    normalise,
    open_part,
    seal_part,
)

if TYPE_CHECKING:
    from dona.config import Settings


class MatryoshkaIndex(QuantizedIndex):
    phase = "matryoshka"


class Projection:
    """x -> the L2-normalised prefix of x @ components.T (PCA axes of the centred catalog,
    by variance; `center` subtracts the catalog mean first), or of x itself ("native")."""

    file = "rotation.f32.npy"  # row 0: mean, rows 1..dims: principal axes, by variance

    def __init__(self, dims: int, mean=None, components=None, center: bool = False):
        self.dims, self.mean, self.components, self.center = dims, mean, components, center

    @classmethod
    def pca(cls, vectors: np.ndarray, dims: int, center: bool, whiten: float = 0.0) -> Projection:
        """`whiten` = a: axis i is scaled by variance_i ** -a (0: plain rotation; 0.5: full
        whitening). The scale is folded into the saved axes, so loading needs no extra."""
        sample = calibration_sample(vectors).astype(np.float64)
        if len(sample) == 0:  # an empty catalog: any rotation will do
            full = vectors.shape[1]
            eye = np.eye(dims, full, dtype=np.float32)
            return cls(dims, np.zeros(full, np.float32), eye, center)
        mean = sample.mean(axis=0)
        centred = sample - mean
        covariance = centred.T @ centred / max(len(sample) - 1, 1)
        variances, axes = np.linalg.eigh(covariance)
        axes = axes[:, np.argsort(-variances, kind="stable")[:dims]].T  # (dims, D)
        # A deterministic sign: the largest coordinate of each axis is positive.
        signs = np.sign(axes[np.arange(dims), np.abs(axes).argmax(axis=1)])
        axes *= np.where(signs == 0, 1, signs)[:, None]
        if whiten:
            kept = np.sort(variances)[::-1][:dims]
            scale = np.maximum(kept, kept[0] * 1e-6) ** -whiten
            axes *= (scale / scale.max())[:, None]
        return cls(dims, mean.astype(np.float32), axes.astype(np.float32), center)

    def save(self, directory: Path) -> None:
        np.save(directory / self.file, np.vstack([self.mean[None, :], self.components]))

    @classmethod
    def load(cls, directory: Path, dims: int, full_dims: int, center: bool) -> Projection:
        path = directory / cls.file
        if not path.exists():
            raise IndexIntegrityError(f"index file {path} is missing; re-ingest the catalog")
        array = np.load(path)
        if array.dtype != np.float32 or array.shape != (dims + 1, full_dims):
            raise IndexIntegrityError(
                f"{path} has shape {array.shape}, the manifest says ({dims + 1}, {full_dims})"
            )
        return cls(dims, array[0].copy(), array[1:].copy(), center)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if self.components is None:
            return normalise(x[..., : self.dims])
        if self.center:
            x = x - self.mean
        return normalise(x @ self.components.T)

    def ram_bytes(self) -> int:
        if self.components is None:
            return 0
        return int(self.mean.nbytes + self.components.nbytes)


class MatryoshkaBuilder:
    """Phase 3b: search a prefix of `dims` dimensions.

    rotation: "pca" learns a variance-ordered rotation from the catalog (saved as
    rotation.f32.npy) so any model's first dims carry the most variance; "native" takes
    the model's own first dims (for Matryoshka-trained models). The prefix is
    L2-normalised and indexed as float32 (usearch cos graph), int8 (calibrated codes +
    i8 graph, asymmetric scoring) or binary (flat Hamming scan). rescore=True rescores
    the top k x rescore_multiplier with the full float32 vectors (memory-mapped).
    center: subtract the catalog mean before projecting (PCA only; measured worse for
    nDCG@10: the query-product cosine lives in the uncentred space).
    whiten: scale PCA axis i by variance_i ** -whiten before normalising (partial
    whitening, as in "BERT-whitening", Su et al. 2021). The top axes carry variance every
    product shares (topic, style); damping them lets the finer axes count. On chorus dev,
    exact search, nDCG@10 / R@10 at 192 dims: 0.594 / 0.475 plain, 0.609 / 0.492 with
    whiten=0.1 (full 384-d f32: 0.609 / 0.493); the same direction at 128, 160 and 384
    dims, and at 0.05 and 0.15, so 0.1 is a mild setting, not a tuned point.
    """

    phase = "matryoshka"

    def __init__(
        self,
        dims: int = 192,
        rotation: str = "pca",
        quantization: str = "f32",
        rescore: bool = False,
        rescore_multiplier: int = 4,
        center: bool = False,
        whiten: float = 0.0,
    ):
        if isinstance(dims, bool) or not isinstance(dims, int) or dims < 1:
            raise ConfigError(f"dims must be a positive integer, not {dims!r}")
        if not isinstance(whiten, int | float) or not 0 <= whiten <= 0.5:
            raise ConfigError(f"whiten must be a number from 0 to 0.5, not {whiten!r}")
        if whiten and rotation != "pca":
            raise ConfigError("whiten needs rotation='pca' (it scales the PCA axes)")
        self.config = {
            "dims": dims,
            "rotation": config_choice("rotation", rotation, ("pca", "native")),
            "quantization": config_choice("quantization", quantization, ("f32", "int8", "binary")),
            "rescore": bool(rescore),
            "rescore_multiplier": config_multiplier(rescore_multiplier),
            "center": bool(center),
        }
        if whiten:  # only when used, so existing manifests keep their exact config
            self.config["whiten"] = float(whiten)

    def build(self, vectors: np.ndarray, directory: Path, threads: int) -> dict[str, Any]:
        full_dims = int(vectors.shape[1])
        config = {**self.config, "dims": min(self.config["dims"], full_dims)}
        config["full_dims"] = full_dims
        dims = config["dims"]
        files: list[str] = []
        if config["rotation"] == "pca":
            projection = Projection.pca(vectors, dims, config["center"], config.get("whiten", 0))
            projection.save(directory)
            files.append(Projection.file)
        else:
            projection = Projection(dims)
        prefix = encode_all(projection, vectors)
        quantization = config["quantization"]
        if quantization == "f32":
            F32Stage.build(prefix, directory, threads)
            files += F32Stage.files
            dtype, metric = "f32", "cos"
        elif quantization == "int8":
            codec = Int8Codec.calibrate(prefix, 0.0)
            Int8Stage.build(prefix, directory, codec, "cos", threads)
            config.update(codec.config())
            files += Int8Stage.files
            dtype, metric = "i8", "cos"
        else:
            threshold = binary_threshold(prefix, center=True)
            BinaryStage.build(prefix, directory, threshold, "flat", threads)
            config["threshold"] = as_floats(threshold)
            files.append(BinaryStage.file("flat"))
            dtype, metric = "b1", "hamming"
        part = {"dtype": dtype, "metric": metric, "config": config, "files": files}
        return seal_part(self.phase, part)

    def load(self, directory: Path, manifest: dict[str, Any]) -> MatryoshkaIndex:
        part = open_part(self.phase, directory, manifest)
        config = part["config"]
        dims, full_dims = int(config["dims"]), int(config["full_dims"])
        if config["rotation"] == "pca":
            projection = Projection.load(directory, dims, full_dims, bool(config["center"]))
        else:
            projection = Projection(dims)
        quantization = config["quantization"]
        if quantization == "f32":
            stage: Any = F32Stage.load(directory, dims)
        elif quantization == "int8":
            codec = Int8Codec.from_config(config, dims)
            stage = Int8Stage.load(directory, codec, "cos", symmetric=False)
        else:
            stage = BinaryStage.load(directory, dims, load_binary_threshold(config, dims), "flat")
        vectors = load_vectors(directory)
        if config["rescore"]:
            rescore: str | None = "f32"
        else:  # int8 prefixes are always re-ranked asymmetrically, in RAM
            rescore = "stage" if quantization == "int8" else None
        index = MatryoshkaIndex(
            stage,
            directory=directory,
            files=list(part["files"]),
            rescore=rescore,
            multiplier=int(config["rescore_multiplier"]),
            vectors=vectors if rescore == "f32" else None,
            project=projection,
            extra_ram=projection.ram_bytes(),
        )
        index.verify(vectors, lambda x: stage.encode(projection(x)))
        return index


@phases.register(
    "matryoshka",
    "phase 3b: a prefix of the dimensions (PCA-rotated or native MRL), f32/int8/binary, optional rescoring",
)
def matryoshka_phase(settings: Settings | None = None, **config: Any) -> MatryoshkaBuilder:
    """The `matryoshka` builder; `config` is its configuration (see `MatryoshkaBuilder`)."""
    return MatryoshkaBuilder(**config)
