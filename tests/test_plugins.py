"""Plugins: the example package installed for real, discovered through its entry point, and
the hook registry's order and idempotency.

The session fixture builds `examples/sglang_gw_example_plugin` (offline) into a temporary
directory and puts that on `sys.path` for the session, so its entry point is found as an
installed one. Never into the project's venv: every later `make serve` and `make bench`
there would load the plugin.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sglang_gw import plugins, providers
from sglang_gw.errors import ConfigError
from sglang_gw.parsers.reasoning import REASONING_PARSERS
from sglang_gw.parsers.tools import TOOL_PARSERS
from sglang_gw.parsers.types import ToolSpec
from sglang_gw.plugins import (
    ALLOW_ENV,
    ENTRY_POINT_GROUP,
    FrameContext,
    HookRegistry,
    PluginApi,
    PluginManager,
)
from sglang_gw.providers import Provider
from sglang_gw.routing import POLICIES, RouteRequest
from tests.parsers.harness import split_invariant_tools

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "sglang_gw_example_plugin"
EXAMPLE_DIST = "sglang-gw-example-plugin"
ALL = {ALLOW_ENV: "example"}


def _in_venv(dist: str) -> bool:
    try:
        importlib.metadata.distribution(dist)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def _pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "--quiet", *args], check=True, timeout=120)


@pytest.fixture(scope="session")
def example_plugin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EntryPoint]:
    if _in_venv(EXAMPLE_DIST):  # left there by older test runs
        _pip("uninstall", "--yes", EXAMPLE_DIST)
    work = tmp_path_factory.mktemp("example-plugin")
    source, target = work / "source", work / "site"
    shutil.copytree(EXAMPLE, source)  # the build writes next to its sources: not in our tree
    _pip("install", "--no-deps", "--no-build-isolation", "--no-index", "--target", str(target), str(source))
    sys.path.append(str(target))
    importlib.invalidate_caches()
    try:
        yield next(ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP) if ep.name == "example")
    finally:
        sys.path.remove(str(target))
        importlib.invalidate_caches()


@pytest.fixture(autouse=True)
def clean_registries(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Plugins write to process-wide tables; each test gets them back as they were."""
    for registry in (TOOL_PARSERS, REASONING_PARSERS, POLICIES):
        monkeypatch.setattr(registry, "_loaded", dict(registry._loaded))
    monkeypatch.setattr(providers, "PROVIDERS", dict(providers.PROVIDERS))
    monkeypatch.setattr(plugins, "PROVIDERS", providers.PROVIDERS)
    yield


def only(*eps: EntryPoint) -> Any:
    return lambda group: list(eps) if group == ENTRY_POINT_GROUP else []


# -- the example package ------------------------------------------------------------------------

def test_discovery_registers_parser_policy_and_hook(example_plugin: EntryPoint) -> None:
    from sglang_gw_example_plugin import stamp_header
    from sglang_gw_example_plugin.policy import FirstWorkerPolicy
    from sglang_gw_example_plugin.tool_parser import ExampleXmlToolParser

    manager = PluginManager()
    loaded = manager.discover(environ={})  # allow-list unset: every plugin
    assert [p.name for p in loaded] == ["example"]
    assert loaded[0].registered == ("tool_parser:example_xml", "policy:first_worker",
                                    "hook:frame.before:sglang_gw_example_plugin.stamp_header")
    assert TOOL_PARSERS.get("example_xml") is ExampleXmlToolParser
    assert POLICIES.get("first_worker") is FirstWorkerPolicy
    assert manager.hooks.hooks("frame", "before") == (stamp_header,)


TOOLS = (ToolSpec("get_weather", {"type": "object"}), ToolSpec("get_time", {"type": "object"}))


def test_example_tool_parser_in_effect(example_plugin: EntryPoint) -> None:
    PluginManager().discover(environ=ALL)
    cls = TOOL_PARSERS.get("example_xml")
    text = ('Let me look. <call name="get_weather">{"city": "Paris"}</call>\n'
            '<call name="nope">{"x": 1}</call> <call name="get_time">not json</call>'
            '<call name="get_time">{"tz": "UTC"}</call> done <call')
    result = split_invariant_tools(lambda: cls(TOOLS), text)
    assert [(c["name"], c["arguments"]) for c in result.calls] == [
        ("get_weather", '{"city": "Paris"}'), ("get_time", '{"tz": "UTC"}')]
    assert result.content == ('Let me look. \n<call name="nope">{"x": 1}</call> '
                              '<call name="get_time">not json</call> done <call')


def test_example_tool_parser_reports_a_call_cut_short(example_plugin: EntryPoint) -> None:
    PluginManager().discover(environ=ALL)
    parser = TOOL_PARSERS.get("example_xml")(TOOLS)
    assert parser.feed('ok <call name="get_time">{"tz": "U').content == "ok "
    end = parser.finish()
    assert [(c.name, c.arguments) for c in end.calls] == [("get_time", '{"tz": "U')]


@dataclass
class FakeWorker:
    url: str
    inflight: int = 0
    load: int = 0


def test_example_policy_in_effect(example_plugin: EntryPoint) -> None:
    PluginManager().discover(environ=ALL)
    policy = POLICIES.get("first_worker")()
    workers = [FakeWorker("grpc://b:1"), FakeWorker("grpc://a:1"), FakeWorker("http://c:1")]
    assert {policy.select(workers, RouteRequest("m")).url for _ in range(5)} == {"grpc://a:1"}


async def test_example_hook_stamps_the_header(example_plugin: EntryPoint) -> None:
    manager = PluginManager()
    manager.discover(environ=ALL)

    def frame(ctx: FrameContext) -> Response:
        return JSONResponse(ctx.body, headers=ctx.headers)

    async def endpoint(request: Request) -> Response:
        ctx = FrameContext("chat", "m", stream=False, body={"ok": True}, request_headers=request.headers)
        return await manager.hooks.run("frame", frame, ctx)

    app = Starlette(routes=[Route("/v1/chat/completions", endpoint, methods=["POST"])])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:
        response = await client.post("/v1/chat/completions", json={})
    assert response.headers["x-example-plugin"] == "1"
    assert response.json() == {"ok": True}


# -- allow-list, broken plugins, loading once ---------------------------------------------------------

@pytest.mark.parametrize("allow", ["", "  ", "other", "other,another"])
def test_allow_list_excludes_it(example_plugin: EntryPoint, allow: str) -> None:
    manager = PluginManager()
    assert manager.discover(environ={ALLOW_ENV: allow}) == []
    assert "example" not in manager.loaded
    assert "example_xml" not in TOOL_PARSERS.names()
    assert not manager.hooks.has("frame")


def test_allow_list_admits_it(example_plugin: EntryPoint) -> None:
    manager = PluginManager()
    manager.discover(environ={ALLOW_ENV: " other , example "})
    assert list(manager.loaded) == ["example"]


def test_allowed_but_missing_plugin(example_plugin: EntryPoint, caplog: pytest.LogCaptureFixture) -> None:
    PluginManager().discover(environ={ALLOW_ENV: "example,ghost"})
    assert "not installed: ghost" in caplog.text
    with pytest.raises(ConfigError, match="ghost"):
        PluginManager().discover(environ={ALLOW_ENV: "example,ghost"}, strict=True)


def broken_setup(api: PluginApi) -> None:
    api.register_policy("half_done", POLICIES.get("random"))
    api.add_hook("frame", "before", lambda ctx: None)
    raise RuntimeError("broken on purpose")


def bad_parser_setup(api: PluginApi) -> None:
    api.register_tool_parser("not_a_parser", dict)  # type: ignore[arg-type]


BROKEN = [EntryPoint("broken", f"{__name__}:broken_setup", ENTRY_POINT_GROUP),
          EntryPoint("missing", "no_such_module_for_sglang_gw:setup", ENTRY_POINT_GROUP),
          EntryPoint("bad_parser", f"{__name__}:bad_parser_setup", ENTRY_POINT_GROUP)]


def test_broken_plugins_are_logged_and_skipped(example_plugin: EntryPoint, monkeypatch: pytest.MonkeyPatch,
                                               caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(plugins, "_entry_points", only(*BROKEN, example_plugin))
    manager = PluginManager()
    loaded = manager.discover(environ={})
    assert [p.name for p in loaded] == ["example"]
    assert set(manager.failed) == {"broken", "missing", "bad_parser"}
    assert "broken on purpose" in manager.failed["broken"]
    assert "plugin broken (tests.test_plugins:broken_setup) failed and is skipped" in caplog.text
    # Nothing a failed plugin staged was applied.
    assert "half_done" not in POLICIES.names() and "not_a_parser" not in TOOL_PARSERS.names()
    assert len(manager.hooks.hooks("frame", "before")) == 1


def test_strict_makes_a_broken_plugin_fatal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plugins, "_entry_points", only(BROKEN[0]))
    with pytest.raises(ConfigError, match="plugin 'broken'.*broken on purpose"):
        PluginManager().discover(environ={}, strict=True)


CALLS: list[str] = []


def counting_setup(api: PluginApi) -> None:
    CALLS.append("setup")
    api.register_provider(Provider("acme", "https://llm.acme.test/v1", "ACME_KEY"))


def test_each_plugin_is_loaded_once(monkeypatch: pytest.MonkeyPatch) -> None:
    CALLS.clear()
    ep = EntryPoint("counting", f"{__name__}:counting_setup", ENTRY_POINT_GROUP)
    monkeypatch.setattr(plugins, "_entry_points", only(ep, ep))  # installed twice, too
    manager = PluginManager()
    manager.discover(environ={})
    manager.discover(environ={})
    assert CALLS == ["setup"]
    assert providers.get_provider("acme").key_env == "ACME_KEY"


def test_async_setup_is_refused() -> None:
    async def setup(api: PluginApi) -> None:
        return None

    with pytest.raises(ConfigError, match="plain function"):
        PluginManager().load("async_one", setup)


def test_load_plugins_in_one_call(example_plugin: EntryPoint) -> None:
    hooks = HookRegistry()
    manager = plugins.load_plugins(hooks, environ=ALL)
    assert manager.hooks is hooks and hooks.has("frame")


# -- the hook registry --------------------------------------------------------------------------

async def test_hook_order_replace_around_before_after() -> None:
    hooks = HookRegistry()
    trace: list[str] = []

    def original(x: int) -> int:
        trace.append("original")
        return x

    def replacement(x: int) -> int:
        trace.append("replace")
        return x * 10

    def around(tag: str) -> Any:
        async def wrap(call_next: Any, x: int) -> int:
            trace.append(f"{tag}>")
            result = await call_next(x + 1)
            trace.append(f"<{tag}")
            return result
        return wrap

    async def before(x: int) -> None:
        trace.append(f"before {x}")

    def after_add(result: int, x: int) -> int:
        trace.append(f"after {result}")
        return result + 1

    def after_observe(result: int, x: int) -> None:
        trace.append(f"observe {result}")

    # Registered in a jumbled order: the kind decides the order, not the registration.
    hooks.add("prepare", "after", after_add)
    hooks.add("prepare", "around", outer := around("outer"))
    hooks.add("prepare", "before", before)
    hooks.add("prepare", "replace", replacement)
    hooks.add("prepare", "around", around("inner"))
    hooks.add("prepare", "after", after_observe)
    assert await hooks.run("prepare", original, 1) == 31  # (1 + 1 + 1) * 10 + 1
    assert trace == ["before 1", "outer>", "inner>", "replace", "<inner", "<outer", "after 30", "observe 31"]
    assert hooks.remove("prepare", "around", outer)


async def test_the_last_replace_wins_and_sync_around_may_return_the_awaitable() -> None:
    hooks = HookRegistry()
    hooks.add("select", "replace", lambda workers, route: "first")
    hooks.add("select", "replace", lambda workers, route: "second")
    hooks.add("select", "around", lambda call_next, workers, route: call_next(workers, route))
    assert await hooks.run("select", lambda workers, route: "original", [], None) == "second"


async def test_registering_twice_has_no_effect() -> None:
    hooks = HookRegistry()
    seen: list[int] = []

    def before(x: int) -> None:
        seen.append(x)

    assert hooks.add("frame", "before", before) is True
    assert hooks.add("frame", "before", before) is False
    hooks.decorator("frame", "before")(before)
    await hooks.run("frame", lambda x: x, 7)
    assert seen == [7]


async def test_no_hooks_just_calls_plain_or_async() -> None:
    hooks = HookRegistry()

    async def async_call(x: int, *, y: int) -> int:
        return x + y

    assert await hooks.run("select", lambda x, *, y: x * y, 3, y=4) == 12
    assert await hooks.run("select", async_call, 3, y=4) == 7


def test_unknown_point_or_kind() -> None:
    hooks = HookRegistry()
    with pytest.raises(ConfigError, match="valid: prepare, select, frame"):
        hooks.add("decode", "before", print)
    with pytest.raises(ConfigError, match="valid: replace, around, before, after"):
        hooks.add("frame", "instead", print)
    hooks.define("decode", "(delta) -> delta")
    assert hooks.add("decode", "before", print)


def test_plugin_hook_errors_fail_the_plugin() -> None:
    def setup(api: PluginApi) -> None:
        api.add_hook("nowhere", "before", print)

    with pytest.raises(ConfigError, match="unknown hook point"):
        PluginManager().load("typo", setup)


async def test_frame_hooks_see_streaming_answers_too() -> None:
    hooks = HookRegistry()
    hooks.add("frame", "before", lambda ctx: ctx.headers.update({"x-stream": str(ctx.stream).lower()}))
    ctx = FrameContext("chat", "m", stream=True)
    response = await hooks.run("frame", lambda c: Response(b"data: x\n\n", headers=c.headers), ctx)
    assert ctx.body is None and response.headers["x-stream"] == "true"


def test_loading_is_logged(example_plugin: EntryPoint, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    PluginManager().discover(environ=ALL)
    assert "plugin example loaded: tool_parser:example_xml" in caplog.text


# -- the example plugin in a running gateway ---------------------------------------------------

def test_example_plugin_in_effect_through_the_gateway(example_plugin: EntryPoint) -> None:
    import httpx

    from sglang_gw.config import GatewayConfig, ModelConfig, RoutingConfig, ServerConfig
    from sglang_gw.plugins import HookRegistry, load_plugins
    from sglang_gw.testing.models import model_dir
    from tests.conftest import ThreadedServer, free_port
    from tests.fleet import start_mock

    hooks = HookRegistry()
    load_plugins(hooks, environ={"SGLANG_GW_PLUGINS": "example"})
    seen: list[str] = []
    hooks.add("prepare", "before", lambda req, model: seen.append(f"prepare {model.name}"))
    hooks.add("select", "after", lambda worker, workers, route: seen.append(f"select {len(workers)}"))
    reply = '<call name="get_weather">{"city": "Paris"}</call>'
    mocks = [start_mock(model_dir("qwen3"), "m") for _ in range(2)]
    for mock in mocks:
        mock.worker.policy.script = {"WEATHER": reply}
    cfg = GatewayConfig(server=ServerConfig(port=free_port()),
                        model=ModelConfig(tool_call_parser="example_xml"),
                        worker_urls=tuple(m.url for m in mocks), routing=RoutingConfig(policy="first_worker"))
    server = ThreadedServer(cfg, hooks=hooks)
    try:
        server.start()
        tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
        for stream in (False, True):
            r = httpx.post(f"http://127.0.0.1:{server.port}/v1/chat/completions", json={
                "model": "m", "messages": [{"role": "user", "content": "WEATHER"}], "tools": tools, "stream": stream})
            assert r.headers["x-example-plugin"] == "1"  # the frame hook
            assert "get_weather" in r.text and "Paris" in r.text and "<call" not in r.text  # the tool parser
        served = [len(m.worker.records.requests) for m in mocks]
        assert sorted(served) == [0, 2]  # the policy always picks the same worker
        assert seen == ["prepare m", "select 2"] * 2  # the prepare and select points ran
    finally:
        server.stop()
        for mock in mocks:
            mock.stop()
