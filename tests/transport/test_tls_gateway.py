"""TLS through the whole gateway: grpcs:// workers from the configuration and from
`POST /workers` (with their own certificates), the start-up checks of the TLS flags, and
the gateway's own listener serving HTTPS (one process and `--workers 2`)."""

from __future__ import annotations

import ssl
import subprocess
import time
import urllib.parse
from pathlib import Path

import httpx
import pytest

from sglang_gw.cli import main, parse_args
from sglang_gw.cli_config import config_from_args
from sglang_gw.testing.mock_worker import MockWorker, ServerTls, ThreadedMockWorker
from sglang_gw.testing.model_facts import read_model_facts
from sglang_gw.testing.replies import ReplyPolicy
from sglang_gw.workers.link import LinkSettings, TlsSettings
from tests.conftest import SCRIPT, free_port, output_of, process, start_gateway
from tests.transport.tls_certs import Certs, certs_fixture  # noqa: F401 - the `certs` fixture

BOUND = 20  # seconds any state below is waited for; a TLS refusal comes back far sooner


@pytest.fixture(autouse=True)
def no_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    """`main`/`parse_args` load plugins into process-wide registries: none here."""
    monkeypatch.setenv("SGLANG_GW_PLUGINS", "")


def tls_mock(folder: Path, name: str, tls: ServerTls) -> ThreadedMockWorker:
    facts = read_model_facts(folder)
    worker = MockWorker(facts, policy=ReplyPolicy(facts, mode="scripted", script=SCRIPT), served_model_name=name)
    return ThreadedMockWorker(worker, tls=tls)


def wait_state(http: httpx.Client, url: str, state: str) -> dict:
    deadline = time.monotonic() + BOUND
    while True:
        body = http.get(f"/workers/{urllib.parse.quote(url, safe='')}").json()
        if body.get("state") == state or body.get("state") == "failed" or time.monotonic() > deadline:
            assert body.get("state") == state, body
            return body
        time.sleep(0.05)


def chat(http: httpx.Client, model: str, text: str) -> str:
    resp = http.post("/v1/chat/completions", json={"model": model, "messages": [{"role": "user", "content": text}]})
    assert resp.status_code == 200, resp.text
    return resp.json()["choices"][0]["message"]["content"]


def test_grpcs_workers_from_flags_and_from_post_workers(qwen3_dir: Path, certs: Certs) -> None:
    tls, mutual, refusing = (tls_mock(qwen3_dir, "tls-global", certs.server),
                             tls_mock(qwen3_dir, "tls-mutual", certs.mutual),
                             tls_mock(qwen3_dir, "tls-refusing", certs.mutual))
    gateway = start_gateway(qwen3_dir, [tls.url], link=LinkSettings(tls=certs.trust()))
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{gateway.port}", timeout=30) as http:
            assert chat(http, "tls-global", "over TLS") == "over TLS"
            # A worker with its own certificates: the client certificate only it needs.
            mutual_body = {"url": mutual.url, "api_key": "wk-1", "ca_cert_paths": [certs.ca_path],
                           "client_cert_path": certs.client_cert_path, "client_key_path": certs.client_key_path}
            assert http.post("/workers", json=mutual_body).status_code == 202
            wait_state(http, mutual.url, "active")
            assert chat(http, "tls-mutual", "mutual") == "mutual"
            assert mutual.worker.records.metadata[-1]["authorization"] == "Bearer wk-1"
            # Without it the job fails at once, saying what is missing.
            assert http.post("/workers", json={"url": refusing.url}).status_code == 202
            error = wait_state(http, refusing.url, "failed")["error"]
            assert "TLS" in error and "client certificate" in error
            # Unusable settings are this request's 400, in the API's error shape.
            for body, param, words in (
                ({"url": mutual.url, "ca_cert_paths": ["/nonexistent/ca.pem"]}, "ca_cert_paths",
                 "ca_cert_paths /nonexistent/ca.pem: cannot read it"),
                ({"url": mutual.url, "client_cert_path": certs.client_cert_path}, "client_cert_path",
                 "go together"),
                ({"url": "grpc://127.0.0.1:1", "ca_cert_paths": [certs.ca_path]}, "url", "grpcs://"),
            ):
                resp = http.post("/workers", json=body)
                assert resp.status_code == 400, resp.text
                err = resp.json()["error"]
                assert err["param"] == param and words in err["message"], err
    finally:
        gateway.stop()
        for mock in (tls, mutual, refusing):
            mock.stop()


def test_tls_flags_and_config_keys_reach_the_configuration(certs: Certs, tmp_path: Path) -> None:
    toml = tmp_path / "gateway.toml"
    toml.write_text(f'ca_cert_paths = ["{certs.ca_path}"]\nclient-cert-path = "{certs.client_cert_path}"\n'
                    f'client_key_path = "{certs.client_key_path}"\ntls_cert_path = "{certs.server_cert_path}"\n'
                    f'tls-key-path = "{certs.server_key_path}"\n')
    config = config_from_args(parse_args(["launch", "--config", str(toml), "--worker-urls", "grpcs://w:1",
                                          "--grpc-transport", "grpcio"]))
    assert config.link == LinkSettings(transport="grpcio", tls=certs.trust(client_cert=True))
    assert (config.server.tls_cert_path, config.server.tls_key_path) == (certs.server_cert_path,
                                                                         certs.server_key_path)
    assert config_from_args(parse_args(["launch", "--worker-urls", "grpc://w:1"])).link.tls == TlsSettings()


@pytest.mark.parametrize(("flags", "words"), [
    (["--client-cert-path", "CLIENT"], "--client-cert-path and --client-key-path go together"),
    (["--ca-cert-paths", "/nonexistent/ca.pem"], "--ca-cert-paths /nonexistent/ca.pem: cannot read it"),
    (["--tls-cert-path", "SERVER"], "--tls-cert-path and --tls-key-path go together"),
    (["--tls-cert-path", "CLIENT", "--tls-key-path", "SERVER_KEY"], "not a PEM certificate and its"),
])
def test_bad_tls_flags_fail_at_start_up(certs: Certs, capsys, flags: list[str], words: str) -> None:
    paths = {"CLIENT": certs.client_cert_path, "SERVER": certs.server_cert_path, "SERVER_KEY": certs.server_key_path}
    flags = [paths.get(f, f) for f in flags]
    assert main(["launch", "--worker-urls", "grpc://127.0.0.1:1", *flags]) == 2
    assert words in capsys.readouterr().err


# ---- the gateway's own listener ------------------------------------------------------------

def https_client(certs: Certs, port: int) -> httpx.Client:
    return httpx.Client(base_url=f"https://localhost:{port}", verify=ssl.create_default_context(cafile=certs.ca_path),
                        timeout=30)


def wait_healthy(http: httpx.Client, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"exited early:\n{output_of(proc)}")
        try:
            if http.get("/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("gateway never became healthy")


def test_the_listener_serves_https(certs: Certs) -> None:
    port = free_port()
    with process("sglang_gw", "launch", "--port", str(port), "--tls-cert-path", certs.server_cert_path,
                 "--tls-key-path", certs.server_key_path) as proc, https_client(certs, port) as http:
        wait_healthy(http, proc)
        assert chat(http, "demo-qwen3", "secure hello") == "secure hello"
        with pytest.raises(httpx.HTTPError):  # plain HTTP gets no answer on an HTTPS port
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)


def test_processes_serve_https_in_front_of_a_mutual_tls_worker(qwen3_dir: Path, certs: Certs) -> None:
    wport, gport = free_port(), free_port()
    worker = ("sglang_gw.testing.mock_worker", "--port", str(wport), "--model-path", str(qwen3_dir),
              "--served-model-name", "m", "--tls-cert-path", certs.server_cert_path,
              "--tls-key-path", certs.server_key_path, "--tls-client-ca-path", certs.ca_path)
    gateway = ("sglang_gw", "launch", "--port", str(gport), "--workers", "2",
               "--worker-urls", f"grpcs://localhost:{wport}", "--ca-cert-paths", certs.ca_path,
               "--client-cert-path", certs.client_cert_path, "--client-key-path", certs.client_key_path,
               "--tls-cert-path", certs.server_cert_path, "--tls-key-path", certs.server_key_path)
    with process(*worker), process(*gateway) as proc, https_client(certs, gport) as http:
        wait_healthy(http, proc)
        for _ in range(4):  # new connections, so both processes answer some
            with https_client(certs, gport) as fresh:
                assert chat(fresh, "m", "hi") == "hi"
