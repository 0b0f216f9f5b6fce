"""Plugins: installed packages that extend the gateway without patching it.

A plugin is an entry point in the group ``sglang_gw.plugins`` naming a callable
``setup(api: PluginApi) -> None``. `PluginManager.discover` runs once at start-up: it loads
every entry point the allow-list (``SGLANG_GW_PLUGINS``: comma-separated names; unset = all,
empty = none) admits, each once. A plugin that fails to import or whose ``setup`` raises is
logged and skipped, or stops start-up with ``strict=True``.

``setup`` registers through the api: reasoning parsers, tool parsers, routing policies,
provider presets and hooks. Registrations are staged and applied only when ``setup``
returns, so a plugin that fails half-way leaves nothing behind.

Hooks attach to named extension points (`HOOK_POINTS`) in four kinds. For one call,
``await hooks.run(point, call, *args, **kwargs)`` is composed inside out in this order:

1. ``replace``: ``fn(*args, **kwargs) -> result`` stands in for ``call`` (the last one
   registered wins);
2. ``around``: ``fn(call_next, *args, **kwargs) -> result`` wraps what is inside it (the
   first registered is outermost); ``call_next`` is async: ``await call_next(*args)``;
3. ``before``: ``fn(*args, **kwargs) -> None`` runs ahead of it all, in registration order,
   and may change mutable arguments in place;
4. ``after``: ``fn(result, *args, **kwargs) -> result | None`` runs last, in registration
   order; a non-None return replaces the result.

Any hook may be a plain or an ``async`` function. Registering the same function twice
for the same point and kind has no effect.
"""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Any, TypeVar, overload

from sglang_gw.errors import ConfigError
from sglang_gw.parsers.reasoning import REASONING_PARSERS, ReasoningParser
from sglang_gw.parsers.tools import TOOL_PARSERS, ToolParser
from sglang_gw.providers import PROVIDERS, Provider, register_provider
from sglang_gw.routing import POLICIES, Policy

__all__ = [
    "ALLOW_ENV",
    "ENTRY_POINT_GROUP",
    "HOOK_KINDS",
    "HOOK_POINTS",
    "FrameContext",
    "HookRegistry",
    "LoadedPlugin",
    "PluginApi",
    "PluginManager",
    "allowed_plugins",
    "load_plugins",
]

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "sglang_gw.plugins"
ALLOW_ENV = "SGLANG_GW_PLUGINS"
HOOK_KINDS: tuple[str, ...] = ("replace", "around", "before", "after")

# What each point's `call` takes and returns; hooks see the same arguments.
HOOK_POINTS: dict[str, str] = {
    "prepare": "(request, model) -> prepared: the decoded API request (ChatCompletionRequest, "
               "CompletionRequest or GenerateRequestBody) and its ServedModel; the result is the "
               "prepare function's ((PreparedRequest, ParserPlan) for chat, list[PreparedRequest] else)",
    "select": "(workers, route) -> worker: the routable candidates (health, breaker and exclusions "
              "applied) and the RouteRequest; the result is one of `workers`",
    "frame": "(ctx: FrameContext) -> Response: the answer about to be sent; ctx.headers are its "
             "response headers, ctx.body the JSON body of a non-streaming answer",
}

T = TypeVar("T")
Hook = Callable[..., Any]


@dataclass(slots=True)
class FrameContext:
    """What `frame` hooks see of an answer before it is sent. `before` hooks may add to
    `headers` (sent with the answer, streaming or not) and edit `body` (non-streaming
    only; None for a stream); the gateway builds the response from both afterwards."""

    endpoint: str  # "chat", "completions", "generate", "responses" or "messages"
    model: str
    stream: bool
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None
    request_headers: Mapping[str, str] = field(default_factory=dict)


class HookRegistry:
    """Hooks by (point, kind); `run` composes them around one call (see the module doc)."""

    def __init__(self, points: Mapping[str, str] = HOOK_POINTS) -> None:
        self._points = dict(points)
        self._hooks: dict[tuple[str, str], list[Hook]] = {}
        self._active: frozenset[str] = frozenset()  # points with a hook: asked on every request

    @property
    def points(self) -> tuple[str, ...]:
        return tuple(self._points)

    def define(self, point: str, contract: str = "") -> None:
        """Add an extension point (for gateway code or a plugin that offers its own)."""
        self._points.setdefault(point, contract)

    def add(self, point: str, kind: str, fn: Hook) -> bool:
        """Attach `fn`; False when it was already attached there (idempotent)."""
        self._check(point, kind)
        if not callable(fn):
            raise ConfigError(f"hook for {point}.{kind} is not callable: {fn!r}")
        hooks = self._hooks.setdefault((point, kind), [])
        if fn in hooks:
            return False
        if kind == "replace" and hooks:
            log.warning("hook %s replaces %s as the %s implementation", _name(fn), _name(hooks[-1]), point)
        hooks.append(fn)
        self._refresh()
        return True

    def remove(self, point: str, kind: str, fn: Hook) -> bool:
        hooks = self._hooks.get((point, kind), [])
        if fn not in hooks:
            return False
        hooks.remove(fn)
        self._refresh()
        return True

    def _refresh(self) -> None:
        self._active = frozenset(point for (point, _), fns in self._hooks.items() if fns)

    def hooks(self, point: str, kind: str) -> tuple[Hook, ...]:
        return tuple(self._hooks.get((point, kind), ()))

    def has(self, point: str) -> bool:
        return point in self._active

    def decorator(self, point: str, kind: str) -> Callable[[Hook], Hook]:
        def attach(fn: Hook) -> Hook:
            self.add(point, kind, fn)
            return fn
        return attach

    @overload
    async def run(self, point: str, call: Callable[..., Awaitable[T]], /, *args: Any, **kwargs: Any) -> T: ...

    @overload
    async def run(self, point: str, call: Callable[..., T], /, *args: Any, **kwargs: Any) -> T: ...

    async def run(self, point: str, call: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """`call(*args, **kwargs)` with the point's hooks applied; plain or async `call`.
        Typed as `call`'s own result: a hook that changes it must return the same type."""
        if point not in self._active:
            self._check(point, "before")
            result = call(*args, **kwargs)  # awaited here, not in _resolve: no extra coroutine
            return await result if inspect.isawaitable(result) else result
        for fn in self.hooks(point, "before"):
            await _resolve(fn(*args, **kwargs))
        result = await self._inner(point, call)(*args, **kwargs)
        for fn in self.hooks(point, "after"):
            changed = await _resolve(fn(result, *args, **kwargs))
            if changed is not None:
                result = changed
        return result

    def _inner(self, point: str, call: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
        replaced = self.hooks(point, "replace")
        inner = _as_async(replaced[-1] if replaced else call)
        for fn in reversed(self.hooks(point, "around")):
            inner = _around(fn, inner)
        return inner

    def _check(self, point: str, kind: str) -> None:
        if point not in self._points:
            raise ConfigError(f"unknown hook point {point!r}; valid: {', '.join(self._points)}")
        if kind not in HOOK_KINDS:
            raise ConfigError(f"unknown hook kind {kind!r}; valid: {', '.join(HOOK_KINDS)}")


async def _resolve(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


def _as_async(fn: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    async def call(*args: Any, **kwargs: Any) -> Any:
        return await _resolve(fn(*args, **kwargs))
    return call


def _around(fn: Hook, inner: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    async def layer(*args: Any, **kwargs: Any) -> Any:
        return await _resolve(fn(inner, *args, **kwargs))
    return layer


def _name(fn: object) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


class PluginApi:
    """What a plugin's `setup` may do. Everything is staged and applied when `setup`
    returns; invalid registrations raise at once, failing the plugin."""

    def __init__(self, name: str, hooks: HookRegistry) -> None:
        self.name = name
        self._hooks = hooks
        self._staged: list[tuple[str, Callable[[], object]]] = []

    def register_tool_parser(self, name: str, cls: type[ToolParser]) -> None:
        _require_subclass(cls, ToolParser, "tool parser")
        self._stage(f"tool_parser:{name}", lambda: TOOL_PARSERS.register(name)(cls), TOOL_PARSERS.names(), name)

    def register_reasoning_parser(self, name: str, cls: type[ReasoningParser]) -> None:
        _require_subclass(cls, ReasoningParser, "reasoning parser")
        self._stage(f"reasoning_parser:{name}", lambda: REASONING_PARSERS.register(name)(cls),
                    REASONING_PARSERS.names(), name)

    def register_policy(self, name: str, cls: type[Policy]) -> None:
        _require_subclass(cls, Policy, "routing policy")
        self._stage(f"policy:{name}", lambda: POLICIES.register(name)(cls), POLICIES.names(), name)

    def register_provider(self, provider: Provider, *, replace: bool = False) -> None:
        current = PROVIDERS.get(provider.name)
        if current is not None and current != provider and not replace:
            raise ConfigError(f"provider {provider.name!r} is already registered; pass replace=True")
        self._stage(f"provider:{provider.name}", lambda: register_provider(provider, replace=replace))

    def add_hook(self, point: str, kind: str, fn: Hook) -> None:
        self._hooks._check(point, kind)
        if not callable(fn):
            raise ConfigError(f"hook for {point}.{kind} is not callable: {fn!r}")
        self._stage(f"hook:{point}.{kind}:{_name(fn)}", lambda: self._hooks.add(point, kind, fn))

    def hook(self, point: str, kind: str) -> Callable[[Hook], Hook]:
        """Decorator form of `add_hook`."""
        def attach(fn: Hook) -> Hook:
            self.add_hook(point, kind, fn)
            return fn
        return attach

    def _stage(self, what: str, apply: Callable[[], object], taken: Iterable[str] = (), name: str = "") -> None:
        if name and name in taken:
            log.warning("plugin %s overrides %s", self.name, what)
        self._staged.append((what, apply))

    def _commit(self) -> tuple[str, ...]:
        for _, apply in self._staged:
            apply()
        return tuple(what for what, _ in self._staged)


def _require_subclass(cls: object, base: type, kind: str) -> None:
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise ConfigError(f"a {kind} must subclass {base.__module__}.{base.__qualname__}, got {cls!r}")


@dataclass(slots=True, frozen=True)
class LoadedPlugin:
    name: str
    target: str  # the entry point's "module:attr"
    registered: tuple[str, ...]  # "tool_parser:example_xml", "hook:frame.before:pkg.fn", …


def allowed_plugins(environ: Mapping[str, str] = os.environ) -> frozenset[str] | None:
    """The allow-list: None (variable unset) admits every plugin; empty admits none."""
    raw = environ.get(ALLOW_ENV)
    if raw is None:
        return None
    return frozenset(name.strip() for name in raw.split(",") if name.strip())


class PluginManager:
    """Loads plugins into one `HookRegistry` (and the process-wide registries), each once."""

    def __init__(self, hooks: HookRegistry | None = None, *, group: str = ENTRY_POINT_GROUP) -> None:
        self.hooks = hooks or HookRegistry()
        self.group = group
        self.loaded: dict[str, LoadedPlugin] = {}
        self.failed: dict[str, str] = {}  # name → why

    def discover(self, *, strict: bool = False, environ: Mapping[str, str] = os.environ) -> list[LoadedPlugin]:
        """Load the allowed, not yet tried entry points; return those loaded by this call."""
        allow = allowed_plugins(environ)
        found: set[str] = set()
        new: list[LoadedPlugin] = []
        for ep in _entry_points(self.group):
            if ep.name in found:
                log.warning("plugin %s is installed twice; %s ignored", ep.name, ep.value)
                continue
            found.add(ep.name)
            if ep.name in self.loaded or ep.name in self.failed:
                continue
            if allow is not None and ep.name not in allow:
                log.info("plugin %s not in %s, not loaded", ep.name, ALLOW_ENV)
                continue
            plugin = self._load_entry_point(ep, strict)
            if plugin is not None:
                new.append(plugin)
        self._report_missing(allow, found, strict)
        return new

    def load(self, name: str, setup: Callable[[PluginApi], object], *, target: str = "") -> LoadedPlugin:
        """Run one plugin's `setup` and apply what it registered (also for embedding and tests)."""
        if name in self.loaded:
            return self.loaded[name]
        api = PluginApi(name, self.hooks)
        result = setup(api)
        if inspect.isawaitable(result):
            getattr(result, "close", lambda: None)()
            raise ConfigError(f"plugin {name!r}: setup must be a plain function, not async")
        plugin = self.loaded[name] = LoadedPlugin(name, target or _name(setup), api._commit())
        log.info("plugin %s loaded: %s", name, ", ".join(plugin.registered) or "nothing registered")
        return plugin

    def _load_entry_point(self, ep: EntryPoint, strict: bool) -> LoadedPlugin | None:
        # A plugin is third-party code: any exception from it is its failure, not the gateway's.
        try:
            setup = ep.load()
            if not callable(setup):
                raise ConfigError(f"{ep.value} is not callable")
            return self.load(ep.name, setup, target=ep.value)
        except Exception as err:
            self.failed[ep.name] = f"{type(err).__name__}: {err}"
            if strict:
                raise ConfigError(f"plugin {ep.name!r} ({ep.value}) failed: {self.failed[ep.name]}") from err
            log.error("plugin %s (%s) failed and is skipped: %s", ep.name, ep.value, self.failed[ep.name],
                      exc_info=True)
            return None

    def _report_missing(self, allow: frozenset[str] | None, found: set[str], strict: bool) -> None:
        missing = sorted((allow or frozenset()) - found)
        if not missing:
            return
        message = f"{ALLOW_ENV} names plugins that are not installed: {', '.join(missing)}"
        if strict:
            raise ConfigError(message)
        log.warning("%s", message)


def load_plugins(hooks: HookRegistry | None = None, *, strict: bool = False,
                 environ: Mapping[str, str] = os.environ) -> PluginManager:
    """Start-up in one call: a manager over `hooks` with every allowed plugin loaded."""
    manager = PluginManager(hooks)
    manager.discover(strict=strict, environ=environ)
    return manager


def _entry_points(group: str) -> Iterable[EntryPoint]:
    return entry_points(group=group)
