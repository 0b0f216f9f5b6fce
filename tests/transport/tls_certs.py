"""Certificates for the TLS tests, made once per session with `trustme`: a CA, a worker
certificate for localhost and 127.0.0.1 signed by it, a client certificate for mutual TLS,
and a second CA that signed nothing we use (the "wrong CA")."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

from sglang_gw.testing.mock_worker import ServerTls
from sglang_gw.workers.link import TlsSettings

__all__ = ["Certs", "certs_fixture"]


@dataclass(frozen=True)
class Certs:
    ca: trustme.CA
    ca_path: str
    other_ca_path: str
    server_cert_path: str
    server_key_path: str
    client_cert_path: str
    client_key_path: str
    server: ServerTls       # a TLS worker
    mutual: ServerTls       # a worker that requires a client certificate signed by `ca`

    def trust(self, *, client_cert: bool = False, ca_path: str | None = None) -> TlsSettings:
        """Settings trusting `ca` (or `ca_path`), optionally presenting the client certificate."""
        return TlsSettings(ca_cert_paths=(ca_path or self.ca_path,),
                           client_cert_path=self.client_cert_path if client_cert else None,
                           client_key_path=self.client_key_path if client_cert else None)


@pytest.fixture(scope="session", name="certs")
def certs_fixture(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    """The session's certificates (import this into a test module to use `certs`)."""
    folder = tmp_path_factory.mktemp("tls")
    ca, other = trustme.CA(), trustme.CA()
    server = ca.issue_cert("localhost", "127.0.0.1")
    client = ca.issue_cert("gateway.example.org")

    def write(name: str, blob: trustme.Blob) -> str:
        path = folder / name
        blob.write_to_path(str(path))
        return str(path)

    for i, pem in enumerate(server.cert_chain_pems):
        pem.write_to_path(str(folder / "server.pem"), append=i > 0)
    for i, pem in enumerate(client.cert_chain_pems):
        pem.write_to_path(str(folder / "client.pem"), append=i > 0)
    server_chain = Path(folder / "server.pem").read_bytes()
    return Certs(
        ca=ca, ca_path=write("ca.pem", ca.cert_pem), other_ca_path=write("other-ca.pem", other.cert_pem),
        server_cert_path=str(folder / "server.pem"), server_key_path=write("server.key", server.private_key_pem),
        client_cert_path=str(folder / "client.pem"), client_key_path=write("client.key", client.private_key_pem),
        server=ServerTls(server_chain, server.private_key_pem.bytes()),
        mutual=ServerTls(server_chain, server.private_key_pem.bytes(), client_ca=ca.cert_pem.bytes()))
