"""One registry per pluggable seam (embedders, index phases, chat backends).

The contract is the same at every seam: an entry is a *factory* called as
``factory(settings, **config)`` (the typed `Settings`, plus the entry's own configuration,
e.g. a phase's ``rescore_multiplier``), registered with a frozen `PluginInfo` that says
what it is, so `dona models` can list everything installed with a line each.

Built-ins are registered exactly as a plugin would be: their modules, listed in
`dona.plugins.DEFAULT_PLUGINS`, use the `register` decorator, and are imported the first
time a registry is asked for a name. Third-party plugins do the same from an entry point
in the registry's group (``dona.embedders``, ``dona.index_phases``, ``dona.llm_backends``).
No module imports its plugins: a base module never imports a backend.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from dona.errors import ConfigError
from dona.plugins import DEFAULT_PLUGINS

if TYPE_CHECKING:
    from dona.config import Settings

T = TypeVar("T")
Factory = Callable[..., T]  # factory(settings, **config) -> T


@dataclass(frozen=True)
class PluginInfo:
    """What a registered entry is, for listings (`dona models`) and error messages."""

    kind: str
    name: str
    summary: str
    size: str | None = None  # on disk, e.g. "88 MB" (None: nothing to install)
    languages: tuple[str, ...] = ()  # ISO 639-1 codes; () = not language-specific
    dims: int | None = None  # embedders: vector dimensions

    def line(self) -> str:
        extra = [
            f"{self.dims}-d" if self.dims else "",
            ", ".join(self.languages),
            self.size or "",
        ]
        details = "; ".join(e for e in extra if e)
        return f"{self.name:<20} {self.summary}" + (f" ({details})" if details else "")


class Registry(Generic[T]):
    def __init__(self, kind: str, entry_point_group: str):
        self.kind = kind
        self.entry_point_group = entry_point_group
        self._factories: dict[str, Factory[T]] = {}
        self._info: dict[str, PluginInfo] = {}
        self._plugins_loaded = False

    def register(
        self,
        name: str,
        summary: str = "",
        *,
        size: str | None = None,
        languages: tuple[str, ...] = (),
        dims: int | None = None,
    ) -> Callable[[Factory[T]], Factory[T]]:
        """Decorator: ``@registry.register("name", "what it is")`` on a factory."""

        def decorator(factory: Factory[T]) -> Factory[T]:
            self._factories[name] = factory
            doc = (factory.__doc__ or "").strip().split("\n")[0]
            self._info[name] = PluginInfo(self.kind, name, summary or doc, size, languages, dims)
            return factory

        return decorator

    def unregister(self, name: str) -> None:
        self._factories.pop(name, None)
        self._info.pop(name, None)

    @contextmanager
    def registered(self, name: str, factory: Factory[T], summary: str = "") -> Iterator[None]:
        """Register for the duration of a block (tests register fakes this way)."""
        previous = self._factories.get(name), self._info.get(name)
        self.register(name, summary)(factory)
        try:
            yield
        finally:
            self.unregister(name)
            if previous[0] is not None:
                self._factories[name] = previous[0]
                self._info[name] = previous[1]  # type: ignore[assignment]

    def _load_plugins(self) -> None:
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        for module in DEFAULT_PLUGINS.get(self.entry_point_group, ()):
            importlib.import_module(module)  # registers its entries with the decorator
        for ep in entry_points(group=self.entry_point_group):
            if ep.name not in self._factories:
                self.register(ep.name, f"plugin ({ep.value})")(ep.load())

    def names(self) -> list[str]:
        self._load_plugins()
        return sorted(self._factories)

    def describe(self) -> list[PluginInfo]:
        """One `PluginInfo` per entry, sorted by name."""
        return [self._info[name] for name in self.names()]

    def get(self, name: str) -> Factory[T]:
        if name not in self._factories:
            self._load_plugins()
        try:
            return self._factories[name]
        except KeyError:
            raise ConfigError(
                f"unknown {self.kind} {name!r}; choose one of: {', '.join(self.names())}"
            ) from None

    def create(self, name: str, settings: Settings | None = None, /, **config: Any) -> T:
        """``factory(settings, **config)``. Settings may be None only for entries that read
        none (index phases are configured entirely by their own config)."""
        return self.get(name)(settings, **config)
