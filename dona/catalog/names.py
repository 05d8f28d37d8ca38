"""Catalog names: what a merchant may call a catalog (it names folders and lock files)."""

from __future__ import annotations

import re

from dona.errors import ConfigError

CATALOG_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


def check_catalog_name(name: str) -> str:
    """The name, or `ConfigError`. fullmatch: `$` would let a trailing newline through.
    (Names that differ only by case from an existing catalog are refused by the store,
    which knows the existing ones: they would share folders on case-insensitive disks.)"""
    if not isinstance(name, str) or not CATALOG_NAME_RE.fullmatch(name):
        raise ConfigError(
            f"catalog name {name!r} is not allowed; use up to 64 letters, digits, '-' or '_'"
        )
    return name
