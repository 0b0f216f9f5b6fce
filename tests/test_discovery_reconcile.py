"""The reconciler's order of work, over a registry that records calls (the `Registry`
seam's fake, as the mock worker is the worker client's): make before break, one url's
steps in order, resync of what went missing, bad bodies counted and skipped."""

from __future__ import annotations

import asyncio

from prometheus_client import REGISTRY

from sglang_gw.discovery import Body, Reconciler
from sglang_gw.errors import InvalidRequestError


class Recording:
    """Registers after `delay` seconds (as a job that connects and loads); a url in `refuse` is a bad body."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.calls: list[tuple[str, str]] = []
        self.registered: set[str] = set()
        self.refuse: set[str] = set()

    async def add(self, body: Body) -> bool:
        url = body["url"]
        if url in self.refuse:
            raise InvalidRequestError(f"bad url {url}", param="url")
        self.calls.append(("add", url))
        await asyncio.sleep(self.delay)
        self.registered.add(url)
        self.calls.append(("active", url))
        return True

    async def remove(self, url: str) -> None:
        self.calls.append(("remove", url))
        self.registered.discard(url)

    def present(self, url: str) -> bool:
        return url in self.registered


async def test_replace_registers_the_new_before_draining_the_gone() -> None:
    registry = Recording(delay=0.05)
    r = Reconciler("file", registry)
    r.replace({"a": {"url": "a"}})
    await r.idle()
    r.replace({"b": {"url": "b"}})
    await r.idle()
    assert registry.calls[2:] == [("add", "b"), ("active", "b"), ("remove", "a")]
    assert registry.registered == {"b"} and r.wanted == {"b": {"url": "b"}}


async def test_one_urls_steps_run_in_order_and_a_changed_body_is_registered_again() -> None:
    registry = Recording(delay=0.02)
    r = Reconciler("kubernetes", registry)
    r.put("a", {"url": "a"})
    await asyncio.sleep(0)  # its registration has started
    r.drop("a")  # not ready right after ready: drained once registered, not before
    r.put("a", {"url": "a", "worker_type": "decode"})
    r.drop("b")  # never wanted: nothing
    await r.idle()
    assert registry.calls == [("add", "a"), ("active", "a"), ("remove", "a"), ("add", "a"), ("active", "a")]
    r.put("a", {"url": "a", "worker_type": "prefill"})  # changed: removed, then added with the new body
    r.put("a", {"url": "a", "worker_type": "prefill"})  # unchanged: nothing to do
    await r.idle()
    assert registry.calls[5:] == [("remove", "a"), ("add", "a"), ("active", "a")]


async def test_a_step_superseded_while_it_waited_is_skipped() -> None:
    registry = Recording()
    r = Reconciler("kubernetes", registry)
    r.put("a", {"url": "a"})
    r.put("a", {"url": "a", "worker_type": "decode"})  # before the first add ran
    await r.idle()
    assert registry.calls == [("remove", "a"), ("add", "a"), ("active", "a")]  # one registration, the last body


async def test_resync_registers_again_what_the_registry_lost() -> None:
    registry = Recording()
    r = Reconciler("kubernetes", registry)
    r.replace({"a": {"url": "a"}, "b": {"url": "b"}})
    await r.idle()
    registry.registered.discard("a")  # removed as unhealthy, say
    r.resync()
    await r.idle()
    assert registry.calls[-2:] == [("add", "a"), ("active", "a")] and registry.registered == {"a", "b"}


async def test_a_body_the_registry_refuses_is_counted_and_skipped() -> None:
    def errors() -> float:
        return REGISTRY.get_sample_value("sgl_router_discovery_events_total",
                                         {"source": "file", "event": "error"}) or 0.0

    registry = Recording()
    registry.refuse.add("bad")
    r = Reconciler("file", registry)
    before = errors()
    r.replace({"bad": {"url": "bad"}, "good": {"url": "good"}})
    await r.idle()
    assert registry.registered == {"good"} and errors() == before + 1
    r.resync()  # a refused body is not tried again until it changes
    await r.idle()
    assert errors() == before + 1
    assert REGISTRY.get_sample_value("sgl_router_discovery_workers", {"source": "file"}) == 2
