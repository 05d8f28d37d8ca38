"""The plugin seams: one contract (factory(settings, **config) + a description) for
embedders, index phases and chat backends; built-ins loaded from one list."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from dona.embed import embedders
from dona.errors import ConfigError
from dona.index import phases
from dona.inventory import inventory
from dona.llm import llm_backends
from dona.plugins import DEFAULT_PLUGINS
from dona.registry import Registry


def test_builtins_are_listed_with_descriptions():
    sections = inventory()
    names = {title: [i.name for i in entries] for title, entries in sections.items()}
    assert {"minilm-onnx", "minilm-onnx-fp32", "minilm"} <= set(names["embedders"])
    assert names["index phases"] == ["binary", "f32", "int8", "matryoshka"]
    assert names["chat backends"] == ["extractive", "llamacpp", "openai", "rkllm"]
    assert names["chat models"] == ["smollm2-135m", "qwen2.5-0.5b", "qwen2.5-1.5b"]
    for entries in sections.values():
        for info in entries:
            assert info.summary and info.name in info.line()
    minilm = next(i for i in sections["embedders"] if i.name == "minilm-onnx")
    assert minilm.dims == 384 and minilm.languages == ("en",)


def test_every_builtin_module_is_registered_through_the_list():
    for group, modules in DEFAULT_PLUGINS.items():
        assert modules, group
    assert embedders.entry_point_group in DEFAULT_PLUGINS
    assert phases.entry_point_group in DEFAULT_PLUGINS
    assert llm_backends.entry_point_group in DEFAULT_PLUGINS


def test_one_contract_shape(settings):
    builder = phases.create("int8", settings, rescore_multiplier=8)
    assert builder.config["rescore_multiplier"] == 8
    assert llm_backends.create("extractive", settings).name == "extractive"
    assert embedders.create("test-hashing", settings).dims == 64


def test_registered_for_a_block_only():
    registry: Registry[str] = Registry("widget", "dona.test_widgets")

    def widget(settings, size: int = 1) -> str:
        """A widget of some size."""
        return f"widget {size}"

    with registry.registered("w", widget):
        assert registry.create("w", None, size=3) == "widget 3"
        assert registry.describe()[0].summary == "A widget of some size."
    with pytest.raises(ConfigError, match="unknown widget 'w'; choose one of: $"):
        registry.get("w")


def test_dona_models_lists_every_seam():
    done = subprocess.run(
        [sys.executable, "-m", "dona.cli", "models", "--json"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    listing = json.loads(done.stdout)
    assert set(listing) == {"embedders", "index phases", "chat backends", "chat models"}
    text = subprocess.run(
        [sys.executable, "-m", "dona.cli", "models"], capture_output=True, text=True
    ).stdout
    assert "qwen2.5-1.5b" in text and "matryoshka" in text and "384-d" in text
