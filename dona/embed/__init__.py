"""Embedders: text -> unit vectors. The seam is `Embedder` (see `base`); built-ins are
listed in `dona.plugins` and registered the way a plugin would be."""

from dona.embed.base import Embedder, create_embedder, embedders, get_embedder

__all__ = ["Embedder", "create_embedder", "embedders", "get_embedder"]
