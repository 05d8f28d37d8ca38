"""Vector indexes, one module per quantization phase (f32, int8, binary, matryoshka), the
manifest that seals a version's files, and the lexical (BM25) index."""

from dona.index.base import (
    MANIFEST,
    VECTORS,
    IndexBuilder,
    VectorIndex,
    exact_search,
    link_or_copy,
    phases,
    read_manifest,
    save_vectors,
    write_manifest,
)

__all__ = [
    "MANIFEST",
    "VECTORS",
    "IndexBuilder",
    "VectorIndex",
    "exact_search",
    "link_or_copy",
    "phases",
    "read_manifest",
    "save_vectors",
    "write_manifest",
]
