"""TLS for the engine API: a self-signed certificate made on first use, fingerprints.

Any address but loopback is served over TLS. Unless ``api.tls_cert``/``api.tls_key``
name a certificate of the user's, the engine makes a self-signed one (EC P-256, ten
years) kept owner-only in the data folder. A client cannot check such a certificate
against an authority, so it trusts it by its SHA-256 fingerprint instead: shown
and confirmed on first use (as SSH does), or pinned with ``--fingerprint``.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import ipaddress
import os
import socket
import ssl
from pathlib import Path

CERT_FILE = "api-cert.pem"
KEY_FILE = "api-key.pem"
CERT_DAYS = 3650


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as stream:
        stream.write(data)
    os.replace(tmp, path)


def ensure_certificate(data_dir: Path, hosts: list[str]) -> tuple[Path, Path]:
    """The data folder's certificate and key, made when missing (blocking: call off the loop).

    ``hosts``: names and addresses the certificate is for, besides localhost and
    this machine's name (clients that pin the fingerprint do not need them; browsers
    and curl without ``-k`` do).
    """
    cert_path, key_path = Path(data_dir) / CERT_FILE, Path(data_dir) / KEY_FILE
    if cert_path.exists() and key_path.exists():
        return cert_path, key_path
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    seen: set[str] = set()
    for host in ["localhost", socket.gethostname(), "127.0.0.1", "::1", *hosts]:
        if not host or host in seen or host in ("0.0.0.0", "::"):
            continue
        seen.add(host)
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "StashDesk engine"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "StashDesk"),
        ]
    )
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=CERT_DAYS))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    _write_private(
        key_path,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    _write_private(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def format_fingerprint(der: bytes) -> str:
    """SHA-256 of a DER certificate as ``AB:CD:...`` (what ``openssl x509 -fingerprint``
    prints)."""
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def normalise_fingerprint(text: str) -> str:
    """A fingerprint as typed (any case, with or without colons or ``SHA256:``) in the
    ``format_fingerprint`` form; ValueError when it is not 64 hex digits."""
    cleaned = text.strip()
    if cleaned.upper().startswith("SHA256:"):
        cleaned = cleaned[7:]
    digits = cleaned.replace(":", "").replace(" ", "").upper()
    if len(digits) != 64 or any(c not in "0123456789ABCDEF" for c in digits):
        raise ValueError(f"not a SHA-256 fingerprint (64 hex digits): {text!r}")
    return ":".join(digits[i : i + 2] for i in range(0, 64, 2))


def fingerprint_bytes(fingerprint: str) -> bytes:
    return bytes.fromhex(normalise_fingerprint(fingerprint).replace(":", ""))


def certificate_fingerprint(cert_path: Path) -> str:
    pem = Path(cert_path).read_text()
    return format_fingerprint(ssl.PEM_cert_to_DER_cert(pem))


def server_context(cert_path: Path, key_path: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(cert_path), str(key_path))
    return context


def unverified_client_context() -> ssl.SSLContext:
    """For reading a self-signed engine's certificate before deciding to trust it; the
    fingerprint is what is checked, never the chain."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


async def peer_fingerprint(host: str, port: int, timeout: float = 10.0) -> str:
    """The fingerprint of the certificate a TLS server on ``host:port`` presents."""
    async with asyncio.timeout(timeout):
        _reader, writer = await asyncio.open_connection(
            host, port, ssl=unverified_client_context(), server_hostname=host or None
        )
    try:
        ssl_object = writer.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True)
    finally:
        writer.close()
        try:
            await asyncio.wait_for(writer.wait_closed(), 2)
        except (OSError, TimeoutError, ssl.SSLError):
            pass
    return format_fingerprint(der)
