"""A local certificate authority and a localhost certificate, so Office loads the add-in over HTTPS.

The CA (10 years) is what the user trusts once; the leaf (under 398 days, the most browsers accept)
is re-issued from it whenever it is missing, expiring or no longer matches the CA, so renewing never
needs a new trust step. The CA is name-constrained to localhost and the loopback addresses: even if
its key leaked, it could not vouch for any other site.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from excel_glm.config import user_config_dir
from excel_glm.token import ensure_private_dir

CA_VALIDITY = dt.timedelta(days=3650)
LEAF_VALIDITY = dt.timedelta(days=397)
# Re-issue a little before expiry so a long-running service does not cross the line mid-session.
RENEW_BEFORE = dt.timedelta(days=7)
LOOPBACK_NAMES = ("localhost",)
LOOPBACK_IPS = (ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"))


@dataclass(frozen=True, slots=True)
class CertPaths:
    """The files uvicorn and the user need: the CA to trust, the leaf certificate and its key."""

    ca_cert: Path
    cert: Path
    key: Path


def certs_dir() -> Path:
    """The folder holding the CA and the localhost certificate (in the user config dir)."""
    return user_config_dir() / "certs"


def ca_cert_path() -> Path:
    """The CA certificate a user trusts once (PEM)."""
    return certs_dir() / "excel-glm-ca.pem"


def _ca_key_path() -> Path:
    return certs_dir() / "excel-glm-ca.key"


def _paths() -> CertPaths:
    return CertPaths(
        ca_cert=ca_cert_path(),
        cert=certs_dir() / "localhost.pem",
        key=certs_dir() / "localhost.key",
    )


def ensure_certificates(now: dt.datetime | None = None) -> CertPaths:
    """Create the CA and the localhost certificate if missing or expiring; return their paths."""
    now = now or dt.datetime.now(dt.UTC)
    paths = _paths()
    ensure_private_dir(certs_dir())
    ca = _load_valid(paths.ca_cert, now)
    ca_key = _load_key(_ca_key_path()) if ca is not None else None
    if ca is None or ca_key is None:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = _issue_ca(ca_key, now)
        _write_private(_ca_key_path(), _key_pem(ca_key))
        _write_public(paths.ca_cert, ca.public_bytes(serialization.Encoding.PEM))
    leaf = _load_valid(paths.cert, now)
    if leaf is None or _load_key(paths.key) is None or not _issued_by(leaf, ca):
        leaf_key = ec.generate_private_key(ec.SECP256R1())
        leaf = _issue_leaf(leaf_key, ca, ca_key, now)
        _write_private(paths.key, _key_pem(leaf_key))
        _write_public(paths.cert, leaf.public_bytes(serialization.Encoding.PEM))
    return paths


def _issue_ca(key: ec.EllipticCurvePrivateKey, now: dt.datetime) -> x509.Certificate:
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "excel-glm"),
            x509.NameAttribute(NameOID.COMMON_NAME, "excel-glm local CA"),
        ]
    )
    constraints = x509.NameConstraints(
        permitted_subtrees=[
            *(x509.DNSName(n) for n in LOOPBACK_NAMES),
            *(x509.IPAddress(ipaddress.ip_network(ip)) for ip in LOOPBACK_IPS),
        ],
        excluded_subtrees=None,
    )
    usage = x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(constraints, critical=True)
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )


def _issue_leaf(
    key: ec.EllipticCurvePrivateKey,
    ca: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    now: dt.datetime,
) -> x509.Certificate:
    san = x509.SubjectAlternativeName(
        [*(x509.DNSName(n) for n in LOOPBACK_NAMES), *(x509.IPAddress(ip) for ip in LOOPBACK_IPS)]
    )
    usage = x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
    ca_ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + LEAF_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(san, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )


def _load_valid(path: Path, now: dt.datetime) -> x509.Certificate | None:
    """The certificate at `path` if it parses and stays valid beyond the renewal margin."""
    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
    except (FileNotFoundError, ValueError):
        return None
    if cert.not_valid_before_utc > now or cert.not_valid_after_utc - RENEW_BEFORE <= now:
        return None
    return cert


def _load_key(path: Path) -> ec.EllipticCurvePrivateKey | None:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (FileNotFoundError, ValueError, TypeError):
        return None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        return None
    # A key restored from a backup or copied by hand may have come back readable by others.
    if os.name == "posix" and path.stat().st_mode & 0o077:
        path.chmod(0o600)
    return key


def _issued_by(leaf: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        leaf.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write_private(path: Path, data: bytes) -> None:
    """Write a key readable by its owner only (0600 from creation, never briefly wider)."""
    _write_atomically(path, data, 0o600)


def _write_public(path: Path, data: bytes) -> None:
    """Write a certificate others may read but never change (not 0666 under a umask of 0)."""
    _write_atomically(path, data, 0o644)


def _write_atomically(path: Path, data: bytes, mode: int) -> None:
    # A temporary name of its own: two services starting at once must not collide on it.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
