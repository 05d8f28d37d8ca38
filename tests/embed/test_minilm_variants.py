"""The three bundled MiniLM embedders, for real: `minilm` (PyTorch), `minilm-onnx-fp32` and
the default `minilm-onnx` (int8 graph for documents, float32 for queries). The README's
claims: ONNX float32 gives torch's vectors, int8 documents stay close, and any of them can
serve a catalog."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import demo_products_matching

from dona.config import Settings
from dona.embed import embedders
from dona.service import Dona

pytestmark = pytest.mark.slow

NAMES = ("minilm", "minilm-onnx-fp32", "minilm-onnx")
ITEMS = demo_products_matching(["speaker", "mouse", "cartridge"], per_word=10)
TEXTS = [f"{i['title']}. {i.get('description') or ''}" for i in ITEMS]
QUERIES = ["bluetooth speaker", "wireless mouse", "black ink cartridge"]


@pytest.fixture(scope="module")
def vectors(tmp_path_factory) -> dict[str, tuple[np.ndarray, np.ndarray, str]]:
    """(documents, queries, model id) per embedder, from the same real product texts."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("embed"))
    out = {}
    for name in NAMES:
        embedder = embedders.create(name, settings)
        queries = np.stack([embedder.embed_query(q) for q in QUERIES])
        out[name] = (embedder.embed_documents(TEXTS), queries, embedder.model_id)
    return out


def test_onnx_float32_gives_torchs_vectors(vectors):
    torch_docs, torch_queries, _ = vectors["minilm"]
    onnx_docs, onnx_queries, _ = vectors["minilm-onnx-fp32"]
    assert torch_docs.shape == onnx_docs.shape == (len(TEXTS), 384)
    np.testing.assert_allclose(onnx_docs, torch_docs, atol=1e-5)  # identical up to float noise
    np.testing.assert_allclose(onnx_queries, torch_queries, atol=1e-5)


def test_int8_documents_stay_close_and_queries_stay_float32(vectors):
    torch_docs, _, _ = vectors["minilm"]
    int8_docs, int8_queries, _ = vectors["minilm-onnx"]
    cosines = (torch_docs * int8_docs).sum(axis=1)
    assert cosines.min() > 0.98, cosines.min()  # measured 0.993 here
    np.testing.assert_array_equal(int8_queries, vectors["minilm-onnx-fp32"][1])


def test_each_embedder_has_its_own_cache_key(vectors):
    ids = [vectors[name][2] for name in NAMES]
    assert ids == [
        "all-MiniLM-L6-v2@128tok",
        "all-MiniLM-L6-v2/onnx-fp32@128tok",
        "all-MiniLM-L6-v2/onnx-int8@128tok",
    ]


@pytest.mark.parametrize("name", NAMES)
def test_each_embedder_serves_a_catalog(name, tmp_path):
    service = Dona(Settings(data_dir=tmp_path, embedder=name))
    try:
        payload = "\n".join(json.dumps(i) for i in ITEMS).encode()
        report = service.ingest_bytes(payload, filename="shop.jsonl")
        assert report.products == len(ITEMS) and report.embedded == len(ITEMS)
        assert service.served().manifest["embedder"] == service.embedder.model_id
        found = service.search("portable bluetooth speaker", k=3, mode="dense").results
        assert all("speaker" in r.product.title.lower() for r in found), [
            r.product.title for r in found
        ]
    finally:
        service.close()
