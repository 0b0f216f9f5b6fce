"""TLS to gRPC workers: the certificates a `TlsSettings` names, as grpcio credentials and as
the `ssl.SSLContext` of our HTTP/2 client.

Both transports must trust the same roots, or a worker could pass the registration check
(grpcio) and then fail every `Generate` (h2), or the reverse. So with no CA paths, grpcio
is handed the system trust store's CA file, the one the ssl module verifies against; left
to itself it would use the roots bundled in its wheel.

Errors name the setting and the path: a flag (`--ca-cert-paths`) at start-up, a body field
(`ca_cert_paths`) for `POST /workers`.
"""

from __future__ import annotations

import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

import grpc

from sglang_gw.errors import ConfigError
from sglang_gw.workers.link import TlsSettings

__all__ = ["WorkerTls", "describe_ssl_error", "is_loopback", "load_worker_tls"]

_PEM_CERT = b"-----BEGIN CERTIFICATE-----"


@dataclass(slots=True, frozen=True)
class WorkerTls:
    """What one `grpcs://` worker connection needs, built once from the PEM files."""

    credentials: grpc.ChannelCredentials  # grpcio's channel
    context: ssl.SSLContext               # our HTTP/2 client (ALPN h2, hostname checked)
    client_cert: bool                     # mutual TLS: we present a certificate


def load_worker_tls(settings: TlsSettings, *, as_flags: bool = True) -> WorkerTls:
    """Read and check the files `settings` names; `ConfigError` names the setting and path."""
    cert, key = settings.client_cert_path, settings.client_key_path
    if (cert is None) != (key is None):
        raise ConfigError(f"{_name('client_cert_path', as_flags)} and {_name('client_key_path', as_flags)} "
                          "go together: give both (mutual TLS) or neither", param="client_cert_path")
    roots = _read_roots(settings.ca_cert_paths, as_flags)
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if roots is not None:
        context.load_verify_locations(cadata=roots.decode("ascii", "replace"))
    context.set_alpn_protocols(["h2"])
    chain = private_key = None
    if cert is not None and key is not None:
        chain = _read(cert, "client_cert_path", as_flags)
        private_key = _read(key, "client_key_path", as_flags)
        _load_client_cert(context, cert, key, as_flags)
    credentials = grpc.ssl_channel_credentials(root_certificates=roots or _system_roots(),
                                               private_key=private_key, certificate_chain=chain)
    return WorkerTls(credentials, context, client_cert=chain is not None)


def describe_ssl_error(err: ssl.SSLError) -> str:
    """A handshake failure in words an operator can act on."""
    if isinstance(err, ssl.SSLCertVerificationError):
        return f"certificate verify failed: {err.verify_message}"
    if err.reason in ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG"):
        # The first bytes back were not a TLS record: a plaintext server answered.
        return f"the worker does not speak TLS ({err.reason}): is it plaintext? then use grpc://"
    return str(err.reason or err).replace("_", " ").lower()


def is_loopback(host: str) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1: traffic that never leaves the machine."""
    host = host.strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _name(field: str, as_flags: bool) -> str:
    return "--" + field.replace("_", "-") if as_flags else field


def _read(path: str, field: str, as_flags: bool) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as err:
        raise ConfigError(f"{_name(field, as_flags)} {path}: cannot read it ({err.strerror or err})",
                          param=field) from None


def _read_roots(paths: tuple[str, ...], as_flags: bool) -> bytes | None:
    """The CA files as one PEM bundle, each checked to hold certificates; None: the system's."""
    if not paths:
        return None
    bundle = []
    for path in paths:
        pem = _read(path, "ca_cert_paths", as_flags)
        try:
            if _PEM_CERT not in pem:
                raise ssl.SSLError("no PEM certificate in it")
            ssl.create_default_context(cadata=pem.decode("ascii"))
        except (ssl.SSLError, UnicodeDecodeError, ValueError) as err:
            raise ConfigError(f"{_name('ca_cert_paths', as_flags)} {path}: not a PEM CA certificate ({err})",
                              param="ca_cert_paths") from None
        bundle.append(pem.rstrip(b"\n") + b"\n")
    return b"".join(bundle)


def _load_client_cert(context: ssl.SSLContext, cert: str, key: str, as_flags: bool) -> None:
    # The ssl module loads a key only from a file, so the files are opened once more here.
    try:
        context.load_cert_chain(cert, key, password=_no_password)
    except (ssl.SSLError, ValueError) as err:
        raise ConfigError(f"{_name('client_cert_path', as_flags)} {cert} and {_name('client_key_path', as_flags)} "
                          f"{key}: not a PEM certificate and its unencrypted private key ({err})",
                          param="client_cert_path") from None


def _no_password() -> bytes:
    # Without a callback OpenSSL would prompt on the terminal for an encrypted key.
    return b""


def _system_roots() -> bytes | None:
    """The system trust store's CA file (the ssl module's default), for grpcio too."""
    cafile = ssl.get_default_verify_paths().cafile
    if cafile is None:
        return None  # only a hashed directory: grpcio falls back to its bundled roots
    try:
        return Path(cafile).read_bytes()
    except OSError:
        return None
