"""One MCP session and the pool, against the SDK-built test server: tools listed once and
again after `notifications/tools/list_changed`, sessions reused, a static server that comes
up late is connected without a restart."""

from __future__ import annotations

import asyncio
import sys

import pytest

from sglang_gw.errors import FailedDependencyError
from sglang_gw.mcp import McpPool, McpSession, McpSettings, ServerSpec, call_tool
from tests.conftest import free_port
from tests.mcp_helpers import http_server, stdio_spec


@pytest.mark.parametrize("protocol", ["stdio", "streamable"])
async def test_tools_are_listed_again_after_list_changed(protocol) -> None:
    with http_server("streamable") as url:
        spec = stdio_spec("calc") if protocol == "stdio" else ServerSpec(name="calc", protocol="streamable", url=url)
        session = McpSession(spec, connect_timeout=10)
        await session.open()
        try:
            first = await session.tools()
            assert await session.tools() is first  # asked once
            result = await call_tool(session, "grow", '{"name": "echo"}', timeout=10)
            assert result.output == "added echo"
            for _ in range(200):  # the notification may arrive just after the call's answer
                if session._tools is None:
                    break
                await asyncio.sleep(0.01)
            assert "echo" in {t.name for t in await session.tools()}
        finally:
            await session.close()
        assert not session.alive


async def test_sessions_are_reused_and_a_late_static_server_is_connected() -> None:
    port = free_port()
    late = ServerSpec(name="late", protocol="streamable", url=f"http://127.0.0.1:{port}/mcp")
    pool = McpPool(McpSettings(servers=(late, stdio_spec("calc")), connect_timeout_secs=5))
    await pool.start()  # "late" is down: logged and retried, the start goes on
    try:
        calc = await pool.session(pool.static["calc"], static=True)
        assert await pool.session(pool.static["calc"], static=True) is calc
        with pytest.raises(FailedDependencyError):
            await pool.session(late, static=True)
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "sglang_gw.testing.mcp_server",
                                                    "streamable", "--port", str(port),
                                                    stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.DEVNULL)
        try:
            assert proc.stdout is not None
            assert (await proc.stdout.readline()).startswith(b"listening on")
            session = await pool.session(late, static=True)
            assert "weather" in {t.name for t in await session.tools()}
            dynamic = ServerSpec(name="mine", protocol="streamable", url=late.url)
            first = await pool.session(dynamic, static=False)
            assert await pool.session(dynamic, static=False) is first
            other = ServerSpec(name="mine", protocol="streamable", url=late.url, headers=(("X-Key", "2"),))
            assert await pool.session(other, static=False) is not first  # other credentials, own session
        finally:
            proc.terminate()
            await proc.wait()
    finally:
        await pool.close()


async def test_a_hanging_call_is_cut_and_the_session_serves_on() -> None:
    session = McpSession(stdio_spec("calc"), connect_timeout=10)
    await session.open()
    try:
        slow = await call_tool(session, "sleep", '{"seconds": 60}', timeout=0.5)
        assert slow.error is not None and slow.error["type"] == "mcp_protocol_error"
        assert "timed out after 0.5s" in slow.error["message"]
        bad = await call_tool(session, "add", "[1, 2]", timeout=5)
        assert bad.error is not None and bad.error["code"] == -32602
        assert (await call_tool(session, "add", '{"a": 2, "b": 40}', timeout=5)).output == "42"
    finally:
        await session.close()


async def test_idle_and_surplus_request_sessions_are_closed_and_dead_ones_reopened() -> None:
    now = [0.0]
    pool = McpPool(McpSettings(servers=(stdio_spec("calc"),), max_dynamic_sessions=2, dynamic_idle_secs=100),
                   clock=lambda: now[0])
    with http_server("streamable") as url:
        specs = [ServerSpec(name="s", protocol="streamable", url=url, headers=(("X-N", str(i)),)) for i in range(3)]
        try:
            a = await pool.session(specs[0], static=False)
            b = await pool.session(specs[1], static=False)
            c = await pool.session(specs[2], static=False)  # past the bound: the least recently used goes
            assert not a.alive and b.alive and c.alive
            now[0] = 50
            assert await pool.session(specs[2], static=False) is c
            now[0] = 120  # b unused for 120 s, c for 70 s
            d = await pool.session(specs[0], static=False)
            assert d.alive and not b.alive and c.alive
            static = await pool.session(pool.static["calc"], static=True)
            await static.close()  # as if its process had exited
            again = await pool.session(pool.static["calc"], static=True)
            assert again is not static and again.alive
            assert (await call_tool(again, "add", '{"a": 1, "b": 1}', timeout=10)).output == "2"
        finally:
            await pool.close()
