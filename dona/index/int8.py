"""Phase 2: int8 scalar codes with per-dimension calibrated ranges."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dona.errors import ConfigError, IndexIntegrityError
from dona.index.base import graph_ranking, load_vectors, phases
from dona.index.quantized import (
    QuantizedIndex,
    Ranking,
    as_floats,
    build_graph,
    calibration_sample,
    config_array,
    config_choice,
    config_multiplier,
    encode_all,
    open_part,
    restore_usearch,
    seal_part,
)

if TYPE_CHECKING:
    from dona.config import Settings


class Int8Codec:
    """Per-dimension affine int8 codes: code = round((x - low) / (high - low) * 255 - 128)."""

    def __init__(self, low: np.ndarray, high: np.ndarray):
        self.low = np.asarray(low, dtype=np.float32)
        self.high = np.asarray(high, dtype=np.float32)
        self.scale = (np.maximum(self.high - self.low, np.float32(1e-12)) / 255).astype(np.float32)
        self.offset = (self.low + 128 * self.scale).astype(np.float32)  # code -128 -> low

    @classmethod
    def calibrate(cls, vectors: np.ndarray, clip_percentile: float) -> Int8Codec:
        sample = calibration_sample(vectors)
        if len(sample) == 0:
            dims = vectors.shape[1]
            return cls(np.full(dims, -1, np.float32), np.ones(dims, np.float32))
        if clip_percentile > 0:
            low = np.percentile(sample, clip_percentile, axis=0)
            high = np.percentile(sample, 100 - clip_percentile, axis=0)
        else:
            low, high = sample.min(axis=0), sample.max(axis=0)
        return cls(low, high)

    def encode(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        return np.clip(np.rint((x - self.low) / self.scale - 128), -128, 127).astype(np.int8)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        return codes.astype(np.float32) * self.scale + self.offset

    def asymmetric(self, query: np.ndarray, codes: np.ndarray) -> np.ndarray:
        """float32 query . dequantised codes, from the codes alone:
        q . (offset + c * scale) = (q * scale) . c + q . offset."""
        return codes.astype(np.float32) @ (query * self.scale) + np.float32(query @ self.offset)

    def config(self) -> dict[str, list[float]]:
        return {"low": as_floats(self.low), "high": as_floats(self.high)}

    @classmethod
    def from_config(cls, config: dict[str, Any], dims: int) -> Int8Codec:
        return cls(
            config_array(config["low"], "low", dims), config_array(config["high"], "high", dims)
        )


class Int8Stage:
    """int8 codes in RAM plus a usearch i8 graph over them (candidate generator)."""

    files = ("codes.i8.npy", "index.i8.usearch")

    def __init__(self, codec: Int8Codec, codes: np.ndarray, graph: Any, metric: str, symmetric):
        self.codec, self.codes, self.graph = codec, codes, graph
        self.metric, self.symmetric = metric, symmetric
        self.exhaustive = False

    @classmethod
    def build(cls, vectors, directory: Path, codec: Int8Codec, metric: str, threads: int):
        codes = encode_all(codec.encode, vectors)
        np.save(directory / cls.files[0], codes)
        graph = build_graph(codes, codes.shape[1], metric, "i8", threads)
        graph.save(str(directory / cls.files[1]))
        return cls(codec, codes, graph, metric, False)

    @classmethod
    def load(cls, directory: Path, codec: Int8Codec, metric: str, symmetric: bool):
        codes = np.load(directory / cls.files[0])  # into RAM: candidates are rescored from it
        if codes.dtype != np.int8 or codes.ndim != 2 or codes.shape[1] != codec.low.shape[0]:
            raise IndexIntegrityError(f"{directory / cls.files[0]} is not int8 codes")
        return cls(codec, codes, restore_usearch(directory / cls.files[1]), metric, symmetric)

    def _symmetric(self, dots: np.ndarray, qcodes: np.ndarray, codes: np.ndarray) -> np.ndarray:
        if self.metric == "ip":
            return dots / np.float32(128 * 128)
        norms = np.linalg.norm(codes.astype(np.float32), axis=1) * np.linalg.norm(qcodes)
        return dots / np.where(norms > 0, norms, 1).astype(np.float32)

    def candidates(self, query: np.ndarray, n: int) -> Ranking:
        """Graph order; scores are the symmetric code similarities usearch computed."""
        positions, distances = graph_ranking(self.graph.search(self.codec.encode(query), n))
        similarity = 1.0 - distances.astype(np.float32)
        if self.metric == "ip":  # usearch ip distance on i8 = 1 - raw dot of the codes
            similarity = similarity / np.float32(128 * 128)
        return positions, similarity

    def score(self, query: np.ndarray, positions: np.ndarray) -> np.ndarray:
        codes = self.codes[positions]
        if not self.symmetric:
            return self.codec.asymmetric(query, codes)
        qcodes = self.codec.encode(query).astype(np.float32)
        return self._symmetric(codes.astype(np.float32) @ qcodes, qcodes, codes)

    def stored(self, positions: np.ndarray) -> np.ndarray:
        return self.codes[positions]

    def encode(self, x: np.ndarray) -> np.ndarray:
        return self.codec.encode(x)

    def ram_bytes(self) -> int:
        return int(self.codes.nbytes) + int(self.graph.serialized_length)

    def __len__(self) -> int:
        return int(self.codes.shape[0])


class Int8Index(QuantizedIndex):
    phase = "int8"


class Int8Builder:
    """Phase 2: int8 scalar codes with per-dimension calibrated ranges.

    rescore: "int8" (default) scores the top k x rescore_multiplier graph candidates
    asymmetrically (float32 query . dequantised codes, from the codes in RAM); "f32"
    rescores them from the memory-mapped float32 vectors; "none" keeps the graph's
    symmetric int8 x int8 scores. `symmetric=True` is the same as rescore="none" (the
    configuration the gate must refuse). clip_percentile: 0 = per-dimension min/max,
    p > 0 = the p / 100-p percentiles. metric: how the graph compares codes ("cos"/"ip").
    """

    phase = "int8"
    rescores = ("int8", "f32", "none")

    def __init__(
        self,
        rescore_multiplier: int = 4,
        rescore: str = "int8",
        symmetric: bool = False,
        clip_percentile: float = 0.0,
        metric: str = "cos",
    ):
        rescore = config_choice("rescore", rescore, self.rescores)
        if symmetric or rescore == "none":
            rescore, symmetric = "none", True
        if not 0 <= clip_percentile < 50:
            raise ConfigError(f"clip_percentile must be in [0, 50), not {clip_percentile!r}")
        self.config = {
            "rescore_multiplier": config_multiplier(rescore_multiplier),
            "rescore": rescore,
            "symmetric": bool(symmetric),
            "clip_percentile": float(clip_percentile),
            "metric": config_choice("metric", metric, ("cos", "ip")),
        }

    def build(self, vectors: np.ndarray, directory: Path, threads: int) -> dict[str, Any]:
        config = self.config
        codec = Int8Codec.calibrate(vectors, config["clip_percentile"])
        Int8Stage.build(vectors, directory, codec, config["metric"], threads)
        part = {
            "dtype": "i8",
            "metric": config["metric"],
            "config": {**config, "dims": int(vectors.shape[1]), **codec.config()},
            "files": list(Int8Stage.files),
        }
        return seal_part(self.phase, part)

    def load(self, directory: Path, manifest: dict[str, Any]) -> Int8Index:
        part = open_part(self.phase, directory, manifest)
        config = part["config"]
        codec = Int8Codec.from_config(config, int(config["dims"]))
        stage = Int8Stage.load(directory, codec, config["metric"], bool(config["symmetric"]))
        vectors = load_vectors(directory)
        rescore = {"int8": "stage", "f32": "f32", "none": None}[config["rescore"]]
        index = Int8Index(
            stage,
            directory=directory,
            files=list(part["files"]),
            rescore=rescore,
            multiplier=int(config["rescore_multiplier"]),
            vectors=vectors if rescore == "f32" else None,
        )
        index.verify(vectors, codec.encode)
        return index


@phases.register(
    "int8",
    "phase 2: int8 codes with per-dimension calibrated ranges, asymmetric rescoring (4x smaller)",
)
def int8_phase(settings: Settings | None = None, **config: Any) -> Int8Builder:
    """The `int8` builder; `config` is its configuration (see `Int8Builder`)."""
    return Int8Builder(**config)
