"""The Prometheus scrape endpoint, on its own listener inside the gateway's event loop.

Metrics never share the API port: the API may be exposed with an API key while the scrape
port stays inside the cluster, and a flood of API traffic cannot starve scrapes of
connection slots. ``--prometheus-host`` / ``--prometheus-port`` choose the listener; it
serves ``/metrics`` (and ``/``) from the default ``prometheus_client`` registry.

With ``--workers N`` the launcher points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh directory
before the processes start, so each one writes its series to files there. Every process
then binds the metrics port with ``SO_REUSEPORT`` and answers a scrape with all processes'
files combined: whichever process the kernel hands the scrape to, the figures are the
gateway's as a whole.

    server = await start_metrics_server("0.0.0.0", 29000)   # in the gateway's lifespan
    ...
    await server.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Iterator

import uvicorn
from prometheus_client import REGISTRY, CollectorRegistry, make_asgi_app, multiprocess

from sglang_gw.errors import ConfigError

__all__ = ["MULTIPROC_DIR_ENV", "MetricsServer", "release_process_metrics", "scrape_registry",
           "start_metrics_server"]

log = logging.getLogger(__name__)
MULTIPROC_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client's own variable


def _multiprocess() -> bool:
    return bool(os.environ.get(MULTIPROC_DIR_ENV))


def scrape_registry() -> CollectorRegistry:
    """What a scrape shows: this process's registry, or every process's files combined."""
    if not _multiprocess():
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry


def release_process_metrics() -> None:
    """On a process's way out (multiprocess mode): drop its live gauges from the total."""
    if _multiprocess():
        multiprocess.mark_process_dead(os.getpid())


class _EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the main server it runs beside."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _bind(host: str, port: int, *, shared: bool = False) -> socket.socket:
    """Bind here, not in uvicorn: a taken port then raises ConfigError instead of uvicorn's
    ``sys.exit(1)``, which would escape a task and stop the whole event loop."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if shared:  # every gateway process listens on the one metrics port
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        raise ConfigError(f"--prometheus-host {host} --prometheus-port {port}: cannot listen there "
                          f"({err.strerror or err})") from None
    return sock


class MetricsServer:
    """``/metrics`` on ``host:port``; ``port=0`` picks a free port (see :attr:`port`)."""

    def __init__(self, host: str, port: int, *, registry: CollectorRegistry | None = None) -> None:
        self.host = host
        self.requested_port = port
        self.registry = registry if registry is not None else scrape_registry()
        self._sock: socket.socket | None = None
        self._bound_port: int | None = None
        self._server: _EmbeddedServer | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        """The bound port (differs from the requested one when that was 0)."""
        return self._bound_port if self._bound_port is not None else self.requested_port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    async def start(self) -> None:
        """Listen and return once the server accepts connections."""
        self._sock = _bind(self.host, self.requested_port, shared=_multiprocess())
        self._bound_port = self._sock.getsockname()[1]
        # log_config=None keeps the gateway's logging set-up, which uvicorn would replace. No
        # access_log=False either: uvicorn applies it to the process-wide "uvicorn.access"
        # logger, which would silence the API server's access lines too.
        config = uvicorn.Config(make_asgi_app(self.registry), log_config=None, lifespan="off")
        self._server = _EmbeddedServer(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[self._sock]), name="metrics-server")
        try:
            await self._wait_started(self._server, self._task)
        except BaseException:  # failed, or cancelled while starting: leave nothing behind
            self._server.should_exit = True
            self._sock.close()
            raise
        log.info("Prometheus metrics on %s", self.url)

    @staticmethod
    async def _wait_started(server: uvicorn.Server, task: asyncio.Task[None]) -> None:
        while not server.started:
            if task.done():  # it failed during start-up; surface its exception
                await task
                raise RuntimeError("metrics server stopped during start-up")
            await asyncio.sleep(0.005)

    async def stop(self) -> None:
        """Stop listening and wait for the server to close; safe to call twice."""
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        try:
            await self._task
        finally:
            if self._sock is not None:
                self._sock.close()
            self._server = self._task = self._sock = None


async def start_metrics_server(host: str, port: int, *, registry: CollectorRegistry | None = None) -> MetricsServer:
    """Start a :class:`MetricsServer` in the running event loop and return it."""
    server = MetricsServer(host, port, registry=registry)
    await server.start()
    return server
