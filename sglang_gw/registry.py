"""A registry is a data table: public name → "module:Class", imported only when used (a
module may be written relative to the registry's `package`: ".families:Class").

Names are a public contract (they are CLI values). Aliases are explicit rows; a real row
beats an alias of the same name, so a family implemented later takes over its peers' name
without the alias being deleted first. Pending rows name formats a peer gateway knows and we
do not parse yet: `get` says so plainly instead of "unknown". Plugins register through a
Python entry point group (`[project.entry-points."<group>"]`,
`name = "package.module:Class"`) or at run time with `register`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from importlib.metadata import entry_points
from typing import Generic, TypeVar

from sglang_gw.errors import ConfigError

__all__ = ["Registry"]

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str, table: Mapping[str, str], *, package: str | None = None,
                 aliases: Mapping[str, str] | None = None, pending: Mapping[str, str] | None = None,
                 entry_point_group: str | None = None) -> None:
        self.kind = kind
        self._table = dict(table)
        self._package = package  # what a relative module in `table` is relative to
        self._aliases = dict(aliases or {})
        self._pending = dict(pending or {})  # name → the format it would parse
        self._group = entry_point_group
        self._loaded: dict[str, type[T]] = {}
        self._plugins_read = False

    def names(self) -> list[str]:
        self._read_plugins()
        return sorted({*self._table, *self._aliases, *self._loaded})

    def pending_names(self) -> list[str]:
        """Names accepted by peers whose format is not implemented here yet."""
        return sorted(n for n in self._pending if not self.resolves(n))

    def pending_format(self, name: str) -> str:
        """The format a pending name would parse (for docs and errors)."""
        return self._pending[name]

    def resolves(self, name: str) -> bool:
        self._read_plugins()
        return self.canonical(name) in self._table or self.canonical(name) in self._loaded

    def canonical(self, name: str) -> str:
        if name in self._table or name in self._loaded:
            return name
        return self._aliases.get(name, name)

    def get(self, name: str) -> type[T]:
        """The class registered under `name`; unknown and pending names list the valid ones."""
        self._read_plugins()
        key = self.canonical(name)
        if key in self._loaded:
            return self._loaded[key]
        target = self._table.get(key)
        if target is None and name in self._pending:
            raise ConfigError(f"{self.kind} {name!r} ({self._pending[name]}) is not implemented yet; "
                              f"valid: {', '.join(self.names())}")
        if target is None:
            raise ConfigError(f"unknown {self.kind} {name!r}; valid: {', '.join(self.names())}")
        module, _, attr = target.partition(":")
        cls = getattr(importlib.import_module(module, self._package), attr)
        self._loaded[key] = cls
        return cls

    def register(self, name: str) -> Callable[[type[T]], type[T]]:
        """Decorator: add a class under `name` at run time."""
        def add(cls: type[T]) -> type[T]:
            self._loaded[name] = cls
            return cls
        return add

    def _read_plugins(self) -> None:
        if self._plugins_read or self._group is None:
            return
        self._plugins_read = True
        for ep in _entry_points(self._group):
            self._table.setdefault(ep.name, ep.value)


def _entry_points(group: str) -> Iterable:  # noqa: ANN201
    return entry_points(group=group)
