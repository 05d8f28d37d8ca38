"""Quantization phases 2-3b behind the `dona.vectorindex.phases` registry: int8, binary
and Matryoshka prefixes.

A builder's constructor kwargs are its configuration (`phases.create("int8",
rescore_multiplier=8)`). `build` resolves it from the catalog vectors (calibrated ranges,
binarisation thresholds, a PCA rotation) and returns the manifest part
``{"dtype", "metric", "config", "config_sha256", "files"}``. `load` rebuilds the index from
the manifest alone, never from the builder's kwargs, and refuses a configuration that
does not match its digest or no longer reproduces the stored codes: the file checksums
cover the codes, the digest covers the numbers kept in the manifest itself.

Every index serves the same `search(query, k, allowed)` as phase 1 and shares its
filtered-search loop (`vectorindex.filtered_search`); first-pass candidates come from an
HNSW graph (usearch) or a flat scan, and are optionally rescored, either in RAM
(asymmetric int8) or from the memory-mapped float32 vectors (`vectors.f32.npy`).

Memory accounting (`ram_bytes`): numpy arrays held in RAM count their `.nbytes`; a usearch
index loaded into RAM counts its serialized length (graph + stored vectors). usearch's own
`memory_usage` reports reserved arena capacity instead (e.g. the same ~3.4 KB/vector for
a 5,000-vector b1 or i8 index), while the resident set measured on load is within
~60-90 B/vector of the serialized length (the key lookup table).

Defaults, measured on chorus_icecat dev with all-MiniLM-L6-v2 (f32 exact nDCG@10 0.6094):
- int8: per-dimension min/max ranges (`clip_percentile=0`): asymmetric exact scoring loses
  nothing, overlap@10 with f32 0.992 (0.1/99.9 percentiles: 0.981; 1/99: 0.936); the
  graph compares int8 codes by cosine (symmetric cos ranks -4%, symmetric ip -11%).
- binary: thresholds at the per-dimension catalog mean (`center=True`): same nDCG@10 as
  sign bits after rescoring x4 but Recall@100 0.838 vs 0.809; a flat Hamming scan
  (`index="flat"`, 48 B/vector for 384-d) because an HNSW b1 graph costs ~200 B/vector.
- matryoshka: PCA axes of the centred catalog, applied to the uncentred vectors, prefix
  normalised: 192 dims -3.0% nDCG@10 (subtracting the mean first: -6.2%; no rotation:
  -6.9%).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import dona.vectorindex as vi
from dona.errors import ConfigError, IndexIntegrityError

CHUNK = 65536  # rows encoded at a time (bounds the temporary float32 copies)
CALIBRATION_SAMPLE = 200_000  # rows used to calibrate ranges / thresholds / rotations
VERIFY_ROWS = 64  # rows re-encoded on load to check the manifest still matches the codes

Ranking = tuple[np.ndarray, np.ndarray]

_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


# ---- helpers ------------------------------------------------------------------------


def _empty() -> Ranking:
    return np.empty(0, np.int64), np.empty(0, np.float32)


def _normalise(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return (x / np.where(norms > 0, norms, 1)).astype(np.float32, copy=False)


def _sample(vectors: np.ndarray, limit: int = CALIBRATION_SAMPLE) -> np.ndarray:
    """A deterministic sample of rows (all of them for catalogs up to `limit`)."""
    n = len(vectors)
    if n <= limit:
        return np.asarray(vectors, dtype=np.float32)
    rows = np.sort(np.random.default_rng(0).choice(n, limit, replace=False))
    return np.asarray(vectors[rows], dtype=np.float32)


def _encode_all(encode: Callable[[np.ndarray], np.ndarray], vectors: np.ndarray) -> np.ndarray:
    parts = [
        encode(np.asarray(vectors[start : start + CHUNK], dtype=np.float32))
        for start in range(0, len(vectors), CHUNK)
    ]
    if parts:
        return np.concatenate(parts)
    return encode(np.zeros((0, vectors.shape[1]), dtype=np.float32))


def _verify_rows(count: int) -> np.ndarray:
    return np.unique(np.linspace(0, max(count - 1, 0), min(count, VERIFY_ROWS)).astype(np.int64))


def _floats(values: np.ndarray) -> list[float]:
    return [float(v) for v in np.asarray(values, dtype=np.float32)]


def _array(values: Any, name: str, dims: int) -> np.ndarray:
    array = np.asarray(values, dtype=np.float32)
    if array.shape != (dims,):
        raise IndexIntegrityError(
            f"the manifest's {name} has shape {array.shape}, expected ({dims},); "
            "re-ingest the catalog"
        )
    return array


def _choice(name: str, value: Any, allowed: tuple) -> Any:
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(map(repr, allowed))}, not {value!r}")
    return value


def _multiplier(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"rescore_multiplier must be a positive integer, not {value!r}")
    return value


def _config_digest(phase: str, part: dict[str, Any]) -> str:
    payload = {
        "phase": phase,
        "dtype": part["dtype"],
        "metric": part["metric"],
        "config": part["config"],
        "files": sorted(part["files"]),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _seal(phase: str, part: dict[str, Any]) -> dict[str, Any]:
    part["config_sha256"] = _config_digest(phase, part)
    return part


def _open_part(phase: str, directory: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """The phase part of `manifest` (full or part), checked against its digest."""
    if manifest.get("phase", phase) != phase:
        raise IndexIntegrityError(
            f"the index at {directory} is phase {manifest.get('phase')!r}, not {phase!r}"
        )
    part = vi.phase_part(manifest)
    if not isinstance(part.get("config"), dict) or "config_sha256" not in part:
        raise IndexIntegrityError(
            f"the index at {directory} has no {phase} configuration in its manifest; "
            "re-ingest the catalog"
        )
    if _config_digest(phase, part) != part["config_sha256"]:
        raise IndexIntegrityError(
            f"the {phase} configuration in the manifest at {directory} does not match its "
            "checksum (edited?); re-ingest the catalog"
        )
    return part


def _restore(path: Path, view: bool = False) -> Any:
    Index = vi.usearch_index_class()

    if not path.exists():
        raise IndexIntegrityError(f"index file {path} is missing; re-ingest the catalog")
    index = Index.restore(str(path), view=view)
    if index is None:
        raise IndexIntegrityError(f"{path} is not a usearch index")
    index.expansion_search = vi.EXPANSION_SEARCH
    return index


def _graph(vectors: np.ndarray, ndim: int, metric: str, dtype: str, threads: int) -> Any:
    Index = vi.usearch_index_class()

    index = Index(ndim=ndim, metric=metric, dtype=dtype, expansion_add=vi.EXPANSION_ADD)
    if len(vectors):
        index.add(np.arange(len(vectors), dtype=np.uint64), vectors, threads=max(threads, 1))
    return index


def _graph_get(graph: Any, positions: np.ndarray, width: int, dtype: Any) -> np.ndarray:
    if positions.size == 0:
        return np.zeros((0, width), dtype=dtype)
    return np.stack(graph.get(positions.astype(np.uint64)))


# ---- codecs and first-pass stages ---------------------------------------------------


class Int8Codec:
    """Per-dimension affine int8 codes: code = round((x - low) / (high - low) * 255 - 128)."""

    def __init__(self, low: np.ndarray, high: np.ndarray):
        self.low = np.asarray(low, dtype=np.float32)
        self.high = np.asarray(high, dtype=np.float32)
        self.scale = (np.maximum(self.high - self.low, np.float32(1e-12)) / 255).astype(np.float32)
        self.offset = (self.low + 128 * self.scale).astype(np.float32)  # code -128 -> low

    @classmethod
    def calibrate(cls, vectors: np.ndarray, clip_percentile: float) -> Int8Codec:
        sample = _sample(vectors)
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
        return {"low": _floats(self.low), "high": _floats(self.high)}

    @classmethod
    def from_config(cls, config: dict[str, Any], dims: int) -> Int8Codec:
        return cls(_array(config["low"], "low", dims), _array(config["high"], "high", dims))


class Int8Stage:
    """int8 codes in RAM plus a usearch i8 graph over them (candidate generator)."""

    files = ("codes.i8.npy", "index.i8.usearch")

    def __init__(self, codec: Int8Codec, codes: np.ndarray, graph: Any, metric: str, symmetric):
        self.codec, self.codes, self.graph = codec, codes, graph
        self.metric, self.symmetric = metric, symmetric
        self.exhaustive = False

    @classmethod
    def build(cls, vectors, directory: Path, codec: Int8Codec, metric: str, threads: int):
        codes = _encode_all(codec.encode, vectors)
        np.save(directory / cls.files[0], codes)
        graph = _graph(codes, codes.shape[1], metric, "i8", threads)
        graph.save(str(directory / cls.files[1]))
        return cls(codec, codes, graph, metric, False)

    @classmethod
    def load(cls, directory: Path, codec: Int8Codec, metric: str, symmetric: bool):
        codes = np.load(directory / cls.files[0])  # into RAM: candidates are rescored from it
        if codes.dtype != np.int8 or codes.ndim != 2 or codes.shape[1] != codec.low.shape[0]:
            raise IndexIntegrityError(f"{directory / cls.files[0]} is not int8 codes")
        return cls(codec, codes, _restore(directory / cls.files[1]), metric, symmetric)

    def _symmetric(self, dots: np.ndarray, qcodes: np.ndarray, codes: np.ndarray) -> np.ndarray:
        if self.metric == "ip":
            return dots / np.float32(128 * 128)
        norms = np.linalg.norm(codes.astype(np.float32), axis=1) * np.linalg.norm(qcodes)
        return dots / np.where(norms > 0, norms, 1).astype(np.float32)

    def candidates(self, query: np.ndarray, n: int) -> Ranking:
        """Graph order; scores are the symmetric code similarities usearch computed."""
        positions, distances = vi.graph_ranking(self.graph.search(self.codec.encode(query), n))
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


def _hamming(qbits: np.ndarray, codes: np.ndarray) -> np.ndarray:
    xor = np.bitwise_xor(codes, qbits)
    if hasattr(np, "bitwise_count"):  # numpy >= 2
        if xor.shape[1] % 8 == 0 and xor.flags.c_contiguous:
            xor = xor.view(np.uint64)
        return np.bitwise_count(xor).sum(axis=1, dtype=np.int32)
    return _POPCOUNT[xor].sum(axis=1, dtype=np.int32)


class PackedCodes:
    """Binary codes held column-major as 64-bit words: `words[j]` is word j of every code.

    The scan XORs and popcounts one contiguous column at a time, ~4x faster than the
    row-major (n, bytes) array numpy broadcasts over (19,406 x 48 B: 0.3 ms against
    1.1 ms), which is what lets binary + rescoring keep up with the float32 graph. Rows
    are padded with zero bytes to whole words (zeros XOR zeros count nothing)."""

    def __init__(self, words: np.ndarray, row_bytes: int):
        self.words, self.row_bytes = words, row_bytes

    @classmethod
    def from_rows(cls, codes: np.ndarray) -> PackedCodes:
        n, row_bytes = codes.shape
        width = -(-row_bytes // 8) * 8
        padded = np.zeros((n, width), dtype=np.uint8)
        padded[:, :row_bytes] = codes
        return cls(np.ascontiguousarray(padded.view(np.uint64).T), row_bytes)

    def rows(self, positions: np.ndarray) -> np.ndarray:
        picked = np.ascontiguousarray(self.words[:, positions].T)
        return picked.view(np.uint8)[:, : self.row_bytes]

    def hamming(self, qbits: np.ndarray) -> np.ndarray:
        width = self.words.shape[0] * 8
        padded = np.zeros(width, dtype=np.uint8)
        padded[: self.row_bytes] = qbits
        query = padded.view(np.uint64)
        out = np.zeros(self.words.shape[1], dtype=np.int32)
        scratch = np.empty(self.words.shape[1], dtype=np.uint64)
        for j, word in enumerate(query):
            np.bitwise_xor(self.words[j], word, out=scratch)
            out += _popcount(scratch)
        return out

    @property
    def nbytes(self) -> int:
        return int(self.words.nbytes)

    def __len__(self) -> int:
        return int(self.words.shape[1])


def _popcount(words: np.ndarray) -> np.ndarray:
    if hasattr(np, "bitwise_count"):  # numpy >= 2
        return np.bitwise_count(words)
    return _POPCOUNT[words.view(np.uint8)].reshape(len(words), 8).sum(axis=1)


class BinaryStage:
    """1 bit per dimension (`x > threshold`, packed): a flat Hamming scan over codes in
    RAM (`PackedCodes`), or a usearch b1 HNSW graph (metric hamming) loaded into RAM."""

    def __init__(self, bits: int, threshold: np.ndarray, codes=None, graph=None):
        self.bits, self.threshold = bits, threshold
        self.codes = PackedCodes.from_rows(codes) if codes is not None else None
        self.graph = graph
        self.exhaustive = graph is None

    @staticmethod
    def file(index: str) -> str:
        return "codes.b1.npy" if index == "flat" else "index.b1.usearch"

    def encode(self, x: np.ndarray) -> np.ndarray:
        return np.packbits(np.asarray(x, dtype=np.float32) > self.threshold, axis=-1)

    @classmethod
    def build(cls, vectors, directory: Path, threshold: np.ndarray, index: str, threads: int):
        stage = cls(vectors.shape[1], threshold)
        codes = _encode_all(stage.encode, vectors)
        if index == "flat":
            np.save(directory / cls.file(index), codes)
            stage.codes = PackedCodes.from_rows(codes)
        else:
            stage.graph = _graph(codes, stage.bits, "hamming", "b1", threads)
            stage.graph.save(str(directory / cls.file(index)))
            stage.exhaustive = False
        return stage

    @classmethod
    def load(cls, directory: Path, bits: int, threshold: np.ndarray, index: str):
        path = directory / cls.file(index)
        if index == "flat":
            codes = np.load(path, mmap_mode="r")  # the file is row-major; RAM holds words
            if codes.dtype != np.uint8 or codes.ndim != 2 or codes.shape[1] != (bits + 7) // 8:
                raise IndexIntegrityError(f"{path} is not packed binary codes")
            return cls(bits, threshold, codes=codes)
        return cls(bits, threshold, graph=_restore(path, view=False))  # hot, not mapped

    def stored(self, positions: np.ndarray) -> np.ndarray:
        if self.codes is not None:
            return self.codes.rows(positions)
        return _graph_get(self.graph, positions, (self.bits + 7) // 8, np.uint8)

    def _similarity(self, hamming: np.ndarray) -> np.ndarray:
        return (1.0 - hamming.astype(np.float32) / np.float32(self.bits)).astype(np.float32)

    def candidates(self, query: np.ndarray, n: int) -> Ranking:
        qbits = self.encode(query)
        if self.graph is not None:
            positions, distances = vi.graph_ranking(self.graph.search(qbits, n))
            return positions, self._similarity(distances)
        scores = self._similarity(self.codes.hamming(qbits))
        top = vi.top_k(scores, n)
        return top.astype(np.int64), scores[top]

    def score(self, query: np.ndarray, positions: np.ndarray) -> np.ndarray:
        return self._similarity(_hamming(self.encode(query), self.stored(positions)))

    def ram_bytes(self) -> int:
        if self.codes is not None:
            return self.codes.nbytes
        return int(self.graph.serialized_length)

    def __len__(self) -> int:
        return len(self.codes) if self.codes is not None else len(self.graph)


class F32Stage:
    """Normalised float32 vectors (a Matryoshka prefix) in a usearch cos graph in RAM."""

    files = ("index.prefix.f32.usearch",)

    def __init__(self, graph: Any, dims: int):
        self.graph, self.dims, self.exhaustive = graph, dims, False

    @classmethod
    def build(cls, vectors: np.ndarray, directory: Path, threads: int) -> F32Stage:
        graph = _graph(vectors, vectors.shape[1], "cos", "f32", threads)
        graph.save(str(directory / cls.files[0]))
        return cls(graph, vectors.shape[1])

    @classmethod
    def load(cls, directory: Path, dims: int) -> F32Stage:
        return cls(_restore(directory / cls.files[0], view=False), dims)

    def encode(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x, dtype=np.float32)

    def stored(self, positions: np.ndarray) -> np.ndarray:
        return _graph_get(self.graph, positions, self.dims, np.float32)

    def candidates(self, query: np.ndarray, n: int) -> Ranking:
        positions, distances = vi.graph_ranking(self.graph.search(query, n))
        return positions, 1.0 - distances.astype(np.float32)

    def score(self, query: np.ndarray, positions: np.ndarray) -> np.ndarray:
        return np.asarray(self.stored(positions) @ query, dtype=np.float32)

    def ram_bytes(self) -> int:
        return int(self.graph.serialized_length)

    def __len__(self) -> int:
        return len(self.graph)


# ---- the served index ---------------------------------------------------------------


class QuantizedIndex:
    """A first-pass stage (graph or flat scan over codes) plus optional rescoring.

    `rescore`: None (first-pass order and scores), "stage" (the stage's exact scoring of
    the top k x multiplier candidates, e.g. asymmetric int8, in RAM) or "f32" (exact cosine
    of the top k x multiplier from the memory-mapped float32 vectors).
    """

    phase = "quantized"

    def __init__(
        self,
        stage: Any,
        *,
        directory: Path,
        files: list[str],
        rescore: str | None,
        multiplier: int,
        vectors: np.ndarray | None = None,
        project: Callable[[np.ndarray], np.ndarray] | None = None,
        extra_ram: int = 0,
    ):
        self.stage, self.directory, self.files = stage, directory, files
        self.rescore, self.multiplier = rescore, multiplier
        self.vectors, self.project, self.extra_ram = vectors, project, extra_ram
        if rescore == "f32" and vectors is None:
            raise ValueError("rescoring from float32 needs the vectors")

    @property
    def count(self) -> int:
        return len(self.stage)

    def search(
        self, query: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        query = np.asarray(query, dtype=np.float32)
        k = min(k, self.count)
        if k <= 0:
            return _empty()
        q = self.project(query) if self.project is not None else query
        depth = min(self.count, k * self.multiplier) if self.rescore else k

        def finish(positions: np.ndarray, scores: np.ndarray, k: int) -> Ranking:
            if self.rescore == "f32":
                scores = np.asarray(self.vectors[positions] @ query, dtype=np.float32)
            elif self.rescore == "stage":
                scores = self.stage.score(q, positions)
            top = vi.top_k(scores, k)
            return positions[top], scores[top]

        def subset_search(subset: np.ndarray, k: int) -> Ranking:
            if subset.size == 0:
                return _empty()
            scores = self.stage.score(q, subset)  # the phase's own scoring, exactly
            if self.rescore == "f32":
                top = vi.top_k(scores, depth)
                return finish(subset[top], scores[top], k)
            top = vi.top_k(scores, k)
            return subset[top], scores[top]

        if allowed is None:
            if depth >= self.count:  # a graph need not reach every node: score them all
                return subset_search(np.arange(self.count, dtype=np.int64), k)
            positions, scores = self.stage.candidates(q, depth)
            return finish(positions, scores, k)
        if self.stage.exhaustive:  # a flat scan: scanning only the allowed rows is cheaper
            return subset_search(np.flatnonzero(allowed), k)
        return vi.filtered_search(
            self.count,
            k,
            allowed,
            candidates=lambda n: self.stage.candidates(q, min(n, self.count)),
            finish=finish,
            subset_search=subset_search,
            depth=depth,
        )

    def ram_bytes(self) -> int:
        return self.stage.ram_bytes() + self.extra_ram

    def disk_bytes(self) -> int:
        total = sum(os.path.getsize(self.directory / name) for name in self.files)
        if self.rescore == "f32":
            total += os.path.getsize(self.directory / vi.VECTORS)
        return total

    def verify(self, vectors: np.ndarray, encode: Callable[[np.ndarray], np.ndarray]) -> None:
        """Re-encode a few rows with the manifest's configuration; they must reproduce the
        stored codes (catches a manifest whose ranges/thresholds/dims were edited)."""
        if len(vectors) != self.count:
            raise IndexIntegrityError(
                f"the {self.phase} index at {self.directory} holds {self.count} vectors, "
                f"{vi.VECTORS} has {len(vectors)}; re-ingest the catalog"
            )
        rows = _verify_rows(self.count)
        expected = encode(np.asarray(vectors[rows], dtype=np.float32))
        stored = self.stage.stored(rows)
        same = (
            np.allclose(stored, expected, rtol=1e-5, atol=1e-6)
            if stored.dtype == np.float32
            else np.array_equal(stored, expected)
        )
        if stored.shape != expected.shape or not same:
            raise IndexIntegrityError(
                f"the {self.phase} codes at {self.directory} do not match the configuration "
                "in the manifest (edited or mixed files); re-ingest the catalog"
            )


class Int8Index(QuantizedIndex):
    phase = "int8"


class BinaryIndex(QuantizedIndex):
    phase = "binary"


class MatryoshkaIndex(QuantizedIndex):
    phase = "matryoshka"


# ---- builders -----------------------------------------------------------------------


@vi.phases.register("int8")
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
        rescore = _choice("rescore", rescore, self.rescores)
        if symmetric or rescore == "none":
            rescore, symmetric = "none", True
        if not 0 <= clip_percentile < 50:
            raise ConfigError(f"clip_percentile must be in [0, 50), not {clip_percentile!r}")
        self.config = {
            "rescore_multiplier": _multiplier(rescore_multiplier),
            "rescore": rescore,
            "symmetric": bool(symmetric),
            "clip_percentile": float(clip_percentile),
            "metric": _choice("metric", metric, ("cos", "ip")),
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
        return _seal(self.phase, part)

    def load(self, directory: Path, manifest: dict[str, Any]) -> Int8Index:
        part = _open_part(self.phase, directory, manifest)
        config = part["config"]
        codec = Int8Codec.from_config(config, int(config["dims"]))
        stage = Int8Stage.load(directory, codec, config["metric"], bool(config["symmetric"]))
        vectors = vi.load_vectors(directory)
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


@vi.phases.register("binary")
class BinaryBuilder:
    """Phase 3a: one bit per dimension, first pass by Hamming distance.

    rescore=True rescores the top k x rescore_multiplier by exact cosine from the
    memory-mapped float32 vectors; False keeps Hamming order (score 1 - hamming / bits).
    center: threshold each dimension at its catalog mean (saved in the manifest) instead
    of 0. index: "flat" scans the packed codes in RAM (bits / 8 bytes per vector);
    "hnsw" uses a usearch b1 graph in RAM (approximate, ~200 B/vector for 384 bits).
    """

    phase = "binary"

    def __init__(
        self,
        rescore_multiplier: int = 4,
        rescore: bool = True,
        center: bool = True,
        index: str = "flat",
    ):
        self.config = {
            "rescore_multiplier": _multiplier(rescore_multiplier),
            "rescore": bool(rescore),
            "center": bool(center),
            "index": _choice("index", index, ("flat", "hnsw")),
        }

    def build(self, vectors: np.ndarray, directory: Path, threads: int) -> dict[str, Any]:
        config = self.config
        dims = int(vectors.shape[1])
        threshold = _threshold(vectors, config["center"])
        BinaryStage.build(vectors, directory, threshold, config["index"], threads)
        part = {
            "dtype": "b1",
            "metric": "hamming",
            "config": {
                **config,
                "dims": dims,
                "threshold": _floats(threshold) if config["center"] else None,
            },
            "files": [BinaryStage.file(config["index"])],
        }
        return _seal(self.phase, part)

    def load(self, directory: Path, manifest: dict[str, Any]) -> BinaryIndex:
        part = _open_part(self.phase, directory, manifest)
        config = part["config"]
        dims = int(config["dims"])
        threshold = _load_threshold(config, dims)
        stage = BinaryStage.load(directory, dims, threshold, config["index"])
        vectors = vi.load_vectors(directory)
        index = BinaryIndex(
            stage,
            directory=directory,
            files=list(part["files"]),
            rescore="f32" if config["rescore"] else None,
            multiplier=int(config["rescore_multiplier"]),
            vectors=vectors if config["rescore"] else None,
        )
        index.verify(vectors, stage.encode)
        return index


def _threshold(vectors: np.ndarray, center: bool) -> np.ndarray:
    if center and len(vectors):
        return _sample(vectors).mean(axis=0, dtype=np.float64).astype(np.float32)
    return np.zeros(vectors.shape[1], dtype=np.float32)


def _load_threshold(config: dict[str, Any], dims: int) -> np.ndarray:
    if config.get("threshold") is None:
        return np.zeros(dims, dtype=np.float32)
    return _array(config["threshold"], "threshold", dims)


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
        sample = _sample(vectors).astype(np.float64)
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
            return _normalise(x[..., : self.dims])
        if self.center:
            x = x - self.mean
        return _normalise(x @ self.components.T)

    def ram_bytes(self) -> int:
        if self.components is None:
            return 0
        return int(self.mean.nbytes + self.components.nbytes)


@vi.phases.register("matryoshka")
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
            "rotation": _choice("rotation", rotation, ("pca", "native")),
            "quantization": _choice("quantization", quantization, ("f32", "int8", "binary")),
            "rescore": bool(rescore),
            "rescore_multiplier": _multiplier(rescore_multiplier),
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
        prefix = _encode_all(projection, vectors)
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
            threshold = _threshold(prefix, center=True)
            BinaryStage.build(prefix, directory, threshold, "flat", threads)
            config["threshold"] = _floats(threshold)
            files.append(BinaryStage.file("flat"))
            dtype, metric = "b1", "hamming"
        part = {"dtype": dtype, "metric": metric, "config": config, "files": files}
        return _seal(self.phase, part)

    def load(self, directory: Path, manifest: dict[str, Any]) -> MatryoshkaIndex:
        part = _open_part(self.phase, directory, manifest)
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
            stage = BinaryStage.load(directory, dims, _load_threshold(config, dims), "flat")
        vectors = vi.load_vectors(directory)
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
