"""TLS and mutual TLS from the gateway to its gRPC workers, on both transports.

A real grpc.aio worker (the mock) serves TLS or mutual TLS with certificates made for the
session; the client is `GrpcWorkerClient` (h2 or grpcio for Generate), and registration is
the real `Registrar`. A refused handshake must fail within the test's own bounded wait,
naming TLS or the certificate, where the start-up loop would otherwise wait 60 s.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from sglang_gw.errors import ConfigError, WorkerUnavailableError
from sglang_gw.proto import sglang_scheduler_pb2 as pb
from sglang_gw.testing.mock_worker import MockWorker, MockWorkerServer, ServerTls
from sglang_gw.testing.model_facts import read_model_facts
from sglang_gw.testing.models import model_dir
from sglang_gw.testing.replies import ReplyPolicy
from sglang_gw.workers.client import GrpcWorkerClient
from sglang_gw.workers.link import LinkSettings, TlsSettings
from sglang_gw.workers.registrar import Registrar, WorkerJob, WorkerSpec
from sglang_gw.workers.tls import load_worker_tls
from tests.transport.tls_certs import Certs, certs_fixture  # noqa: F401 - the `certs` fixture

TRANSPORTS = pytest.mark.parametrize("transport", ["h2", "grpcio"])
BOUND = 10  # seconds: a refusal comes back well within this, far below the 60 s start-up loop


@pytest.fixture(scope="module")
def facts():
    return read_model_facts(model_dir("qwen3"))


@asynccontextmanager
async def worker(facts, tls: ServerTls | None) -> AsyncIterator[MockWorkerServer]:
    mock = MockWorker(facts, policy=ReplyPolicy(facts, mode="random", random_tokens=8), served_model_name="tls")
    server = MockWorkerServer(mock, tls=tls)
    await server.start()
    try:
        yield server
    finally:
        await server.stop(None)


def as_url(server: MockWorkerServer, scheme: str) -> str:
    return f"{scheme}://127.0.0.1:{server.port}"


def request() -> pb.GenerateRequest:
    sp = pb.SamplingParams(temperature=1.0, max_new_tokens=8, ignore_eos=True)
    return pb.GenerateRequest(request_id="tls-1", tokenized=pb.TokenizedInput(input_ids=[5, 6, 7]),
                              sampling_params=sp, stream=True)


async def generate(url: str, transport: str, tls: TlsSettings, api_key: str | None = None) -> list[int]:
    client = GrpcWorkerClient(url, api_key=api_key, link=LinkSettings(transport=transport, tls=tls))
    out: list[int] = []
    try:
        stream = client.generate(request(), timeout=BOUND)
        while (resp := await asyncio.wait_for(stream.read(), BOUND)) is not None:
            out += resp.chunk.token_ids if resp.HasField("chunk") else []
        assert stream.finished
    finally:
        await client.close()
    return out


async def register(url: str, transport: str, tls: TlsSettings | None, *, global_tls: TlsSettings | None = None,
                   api_key: str | None = None, startup_timeout: float = 60.0) -> WorkerJob:
    """One registration through the real registrar (default 60 s start-up timeout)."""
    async def load_model(client, spec, window) -> str:  # noqa: ANN001
        return (await client.model_info()).served_model_name

    added: list = []
    link = LinkSettings(transport=transport, tls=global_tls or TlsSettings())
    registrar = Registrar(load_model, added.append, startup_timeout=startup_timeout, link=link)
    registrar.start()
    try:
        job = registrar.submit(WorkerSpec(url=url, api_key=api_key, tls=tls))
        await asyncio.wait_for(job.done.wait(), BOUND)
    finally:
        await registrar.stop()
        for w in added:
            await w.client.close()
    return job


# ---- the link works --------------------------------------------------------------------

@TRANSPORTS
async def test_grpcs_streams_tokens_and_carries_the_worker_key(facts, certs: Certs, transport: str) -> None:
    async with worker(facts, certs.server) as srv:
        assert srv.url.startswith("grpcs://")
        tokens = await generate(srv.url, transport, certs.trust(), api_key="k-tls")
        assert len(tokens) == 8
        assert srv.worker.records.metadata[-1]["authorization"] == "Bearer k-tls"


@TRANSPORTS
async def test_mutual_tls_with_the_client_certificate(facts, certs: Certs, transport: str) -> None:
    async with worker(facts, certs.mutual) as srv:
        assert len(await generate(srv.url, transport, certs.trust(client_cert=True))) == 8
        job = await register(srv.url, transport, certs.trust(client_cert=True))
        assert (job.state, job.model) == ("active", "tls")


@TRANSPORTS
async def test_a_per_worker_ca_replaces_the_gateways(facts, certs: Certs, transport: str) -> None:
    async with worker(facts, certs.server) as srv:
        job = await register(srv.url, transport, certs.trust(), global_tls=certs.trust(ca_path=certs.other_ca_path))
        assert job.state == "active", job.error


# ---- a refused handshake fails fast, saying why ------------------------------------------

# (the worker, the url's scheme, the client's settings, words the registration error holds)
REFUSALS = {
    "no client certificate": ("mutual", "grpcs", lambda c: c.trust(), ("TLS", "requires a client certificate")),
    "wrong CA": ("server", "grpcs", lambda c: c.trust(ca_path=c.other_ca_path),
                 ("TLS", "certificate verify failed")),
    "plaintext worker behind grpcs://": ("plain", "grpcs", lambda c: c.trust(), ("TLS", "does not speak TLS")),
    "TLS worker behind grpc://": ("server", "grpc", lambda c: c.trust(), ("TLS", "use grpcs://")),
}


def server_tls(certs: Certs, kind: str) -> ServerTls | None:
    return {"mutual": certs.mutual, "server": certs.server, "plain": None}[kind]


@TRANSPORTS
@pytest.mark.parametrize("case", list(REFUSALS))
async def test_a_refused_handshake_fails_registration_at_once(facts, certs: Certs, transport: str,
                                                              case: str) -> None:
    kind, scheme, settings, words = REFUSALS[case]
    async with worker(facts, server_tls(certs, kind)) as srv:
        job = await register(as_url(srv, scheme), transport, settings(certs))
    assert job.state == "failed"
    for word in words:
        assert word in job.error, job.error
    assert "did not answer within" not in job.error


@TRANSPORTS
async def test_a_certificate_for_another_host_is_refused(facts, certs: Certs, transport: str) -> None:
    mock = MockWorker(facts, policy=ReplyPolicy(facts, mode="random"), served_model_name="tls")
    srv = MockWorkerServer(mock, host="127.0.0.2", tls=certs.server)  # the certificate names 127.0.0.1
    await srv.start()
    try:
        job = await register(srv.url, transport, certs.trust())
    finally:
        await srv.stop(None)
    assert job.state == "failed", job.error
    assert "TLS handshake failed" in job.error and "mismatch, certificate is not valid for '127.0.0.2'" in job.error


@TRANSPORTS
@pytest.mark.parametrize("case", list(REFUSALS))
async def test_a_refused_handshake_fails_the_call(facts, certs: Certs, transport: str, case: str) -> None:
    kind, scheme, settings, _ = REFUSALS[case]
    async with worker(facts, server_tls(certs, kind)) as srv:
        with pytest.raises(WorkerUnavailableError) as info:
            await generate(as_url(srv, scheme), transport, settings(certs))
    if transport == "h2" and case in ("wrong CA", "plaintext worker behind grpcs://"):
        # Our own client sees the handshake fail and says so; grpcio's text is its own.
        assert "TLS handshake" in info.value.message
        assert {"wrong CA": "certificate verify failed",
                "plaintext worker behind grpcs://": "does not speak TLS"}[case] in info.value.message


async def test_mutual_tls_with_a_certificate_the_worker_does_not_trust(facts, certs: Certs) -> None:
    with open(certs.other_ca_path, "rb") as f:
        trusts_another_ca = ServerTls(certs.server.cert_chain, certs.server.private_key, client_ca=f.read())
    async with worker(facts, trusts_another_ca) as srv:
        job = await register(srv.url, "h2", certs.trust(client_cert=True))
    assert job.state == "failed" and "refused our client certificate" in job.error, job.error


# ---- settings ------------------------------------------------------------------------------

def test_unusable_files_are_config_errors_naming_the_flag_and_path(certs: Certs, tmp_path) -> None:
    missing = str(tmp_path / "nope.pem")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    cases = [
        (TlsSettings(ca_cert_paths=(missing,)), f"--ca-cert-paths {missing}: cannot read it"),
        (TlsSettings(ca_cert_paths=(str(garbage),)), f"--ca-cert-paths {garbage}: not a PEM CA certificate"),
        (TlsSettings(client_cert_path=certs.client_cert_path), "--client-cert-path and --client-key-path go together"),
        (TlsSettings(client_cert_path=certs.client_cert_path, client_key_path=certs.server_key_path),
         f"--client-cert-path {certs.client_cert_path} and --client-key-path {certs.server_key_path}"),
        (TlsSettings(client_cert_path=missing, client_key_path=certs.client_key_path),
         f"--client-cert-path {missing}: cannot read it"),
    ]
    for settings, message in cases:
        with pytest.raises(ConfigError) as info:
            load_worker_tls(settings)
        assert message in info.value.message
    with pytest.raises(ConfigError, match=f"ca_cert_paths {missing}"):
        load_worker_tls(TlsSettings(ca_cert_paths=(missing,)), as_flags=False)


async def test_a_grpcs_client_with_unusable_files_is_refused_before_connecting(certs: Certs, tmp_path) -> None:
    with pytest.raises(ConfigError, match="--ca-cert-paths"):
        GrpcWorkerClient("grpcs://127.0.0.1:1", link=LinkSettings(tls=TlsSettings((str(tmp_path / "x.pem"),))))
    # A plaintext url never reads them.
    await GrpcWorkerClient("grpc://127.0.0.1:1", link=LinkSettings(tls=TlsSettings(("/nonexistent",)))).close()


async def test_a_worker_key_over_plaintext_off_the_machine_is_warned_about_once(caplog) -> None:
    caplog.set_level(logging.WARNING, logger="sglang_gw.workers.registrar")

    async def load_model(client, spec, window) -> str:  # noqa: ANN001
        raise AssertionError("never reached")

    registrar = Registrar(load_model, lambda w: None, startup_timeout=0)
    registrar.start()
    try:
        for url in ("grpc://worker.invalid:20000", "grpc://worker.invalid:20000", "grpc://127.0.0.1:1",
                    "grpc://localhost:1", "grpc://[::1]:1", "grpcs://worker.invalid:20000"):
            job = registrar.submit(WorkerSpec(url=url, api_key="secret-worker-key"))
            await asyncio.wait_for(job.done.wait(), BOUND)
        job = registrar.submit(WorkerSpec(url="grpc://keyless.invalid:1"))
        await asyncio.wait_for(job.done.wait(), BOUND)
    finally:
        await registrar.stop()
    warnings = [r.getMessage() for r in caplog.records if "plaintext" in r.getMessage()]
    assert len(warnings) == 1
    assert "grpc://worker.invalid:20000" in warnings[0] and "grpcs://" in warnings[0]
    assert "secret-worker-key" not in caplog.text
