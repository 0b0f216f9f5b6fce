"""Command line: `sglang-gw launch` (the server), `sglang-gw serve` (workers and server
together, serve.py) and `sglang-gw render` (template debugging).

Flag names follow smg's, so an smg command line moves over unchanged where the feature
exists here.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from typing import Any

from sglang_gw.cli_config import config_from_args
from sglang_gw.cli_flags import build_parser
from sglang_gw.config import GatewayConfig
from sglang_gw.config_file import (
    apply_config_defaults,
    config_path_from_argv,
    load_config_file,
)
from sglang_gw.errors import ConfigError
from sglang_gw.logs import setup_logging
from sglang_gw.plugins import load_plugins
from sglang_gw.runtime.allocator import reexec_with

__all__ = ["build_parser", "config_from_args", "main"]


def _subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[name]


def _launch(args: argparse.Namespace) -> int:
    import uvicorn

    from sglang_gw.server.app import build_app

    config = config_from_args(args)
    obs = config.observability
    setup_logging(config.server.log_level, json_lines=obs.log_json, log_dir=obs.log_dir)
    if args.workers > 1 and args.history_backend is None:
        logging.getLogger(__name__).warning(
            "--workers %d: /v1/responses and /v1/conversations keep no history (--history-backend none); "
            "give --history-backend sqlite or postgres to share one between the processes", args.workers)
    if args.workers > 1:
        return _launch_processes(args, config)
    demo = None
    if config.demo is not None:
        from sglang_gw.demo import start_demo_worker  # the mock worker's modules: only a demo needs them

        demo = start_demo_worker(config)
    try:
        if demo is not None:
            config = dataclasses.replace(config, worker_urls=(demo.url,))
            host = "localhost" if config.server.host in ("127.0.0.1", "0.0.0.0") else config.server.host
            scheme = "https" if config.server.tls_cert_path else "http"
            print(f"sglang-gw demo: try\n  curl {scheme}://{host}:{config.server.port}/v1/chat/completions "
                  "-H 'Content-Type: application/json' "
                  """-d '{"messages": [{"role": "user", "content": "Hello!"}]}'""", flush=True)
        uvicorn.run(build_app(config, hooks=args.hooks), **_server_options(config))
    finally:
        if demo is not None:
            demo.stop()
    return 0


def _launch_processes(args: argparse.Namespace, config: GatewayConfig) -> int:
    """N pre-forked gateway processes on one socket; each rebuilds its config from the same argv."""
    import json

    import uvicorn

    if config.demo is not None:
        raise ConfigError("--workers > 1 needs --worker-urls: each process would start its own demo worker")
    os.environ[ARGV_ENV] = json.dumps(args.argv)
    with _shared_metrics_dir(config.observability.prometheus_port is not None):
        uvicorn.run("sglang_gw.cli:app_from_environment", factory=True, workers=args.workers,
                    **_server_options(config))
    return 0


def _server_options(config: GatewayConfig) -> dict[str, Any]:
    """uvicorn's settings, the same for one process and for each of `--workers N`: address,
    logging, shutdown, connection limits, HTTPS (with `--workers N` uvicorn binds the socket
    once and each process wraps it in TLS)."""
    from sglang_gw.server.connections import uvicorn_options

    server = config.server
    return {"host": server.host, "port": server.port, "log_level": server.log_level, "lifespan": "on",
            "log_config": None, "access_log": server.log_level == "debug",
            "timeout_graceful_shutdown": server.shutdown_grace_period_secs,
            "ssl_certfile": server.tls_cert_path, "ssl_keyfile": server.tls_key_path,
            **uvicorn_options(config.connections)}


@contextlib.contextmanager
def _shared_metrics_dir(wanted: bool) -> Iterator[None]:
    """A fresh directory for the processes' metric files (prometheus_client's multiprocess
    mode), set in the environment they inherit and removed when they are gone. A directory
    the user set already is used as it is, and kept."""
    from sglang_gw.server.metrics_server import MULTIPROC_DIR_ENV

    if not wanted or os.environ.get(MULTIPROC_DIR_ENV):
        yield
        return
    directory = tempfile.mkdtemp(prefix="sglang-gw-metrics-")
    os.environ[MULTIPROC_DIR_ENV] = directory
    try:
        yield
    finally:
        del os.environ[MULTIPROC_DIR_ENV]
        shutil.rmtree(directory, ignore_errors=True)


ARGV_ENV = "SGLANG_GW_LAUNCH_ARGV"


def app_from_environment():  # noqa: ANN201 - a Starlette app, built in each worker process
    """uvicorn's factory for `--workers N`: the parent's `launch` arguments, parsed again here."""
    import json

    from sglang_gw.server.app import build_app

    args = parse_args(json.loads(os.environ[ARGV_ENV]))
    config = config_from_args(args)
    setup_logging(config.server.log_level, json_lines=config.observability.log_json,
                  log_dir=config.observability.log_dir)
    return build_app(config, hooks=args.hooks)


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The command line, with `--config FILE` values as defaults under it. Plugins are
    loaded first: their parsers and policies are valid flag values."""
    plugins = load_plugins()
    parser = build_parser()
    path = config_path_from_argv(argv)
    if path is not None:
        apply_config_defaults(_subparser(parser, "launch"), load_config_file(path), source=f"--config {path}")
    args = parser.parse_args(argv)
    args.argv = argv
    args.hooks = plugins.hooks
    return args


def _serve(argv: list[str]) -> int:
    """`sglang-gw serve`: its own flags parsed here, the rest split between workers and gateway."""
    from sglang_gw.serve import run_serve, split_argv

    parser = _subparser(build_parser(), "serve")
    own, worker_args, gateway_args = split_argv(argv, {o for a in parser._actions for o in a.option_strings})
    return run_serve(parser.parse_args(own), worker_args, gateway_args, lambda launch: _launch(parse_args(launch)))


def main(argv: Sequence[str] | None = None) -> int:
    from_command_line = argv is None  # only a program of its own may replace itself (exec)
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv[:1] == ["serve"]:
            return _serve(argv[1:])
        args = parse_args(argv)
        if args.command == "launch":
            if from_command_line:
                reexec_with(args.allocator, argv)
            return _launch(args)
        from sglang_gw.render import run_render
        return run_render(args.model_path, args.chat_template, jsonl=args.jsonl)
    except ConfigError as err:
        print(f"sglang-gw: {err.message}", file=sys.stderr)
        return 2
