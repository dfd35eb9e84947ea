"""The local CA and localhost certificate: loopback only, private keys 0600, renewed in time."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import stat

import pytest
from cryptography import x509

from excel_glm.certs import ca_cert_path, ensure_certificates


def load(path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_the_leaf_is_issued_by_the_ca_for_localhost_and_the_loopback_addresses():
    paths = ensure_certificates()
    ca, leaf = load(paths.ca_cert), load(paths.cert)

    leaf.verify_directly_issued_by(ca)
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert set(san.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    }
    assert paths.ca_cert == ca_cert_path()


def test_validity_is_ten_years_for_the_ca_and_under_398_days_for_the_leaf():
    paths = ensure_certificates()
    ca, leaf = load(paths.ca_cert), load(paths.cert)

    assert ca.not_valid_after_utc - ca.not_valid_before_utc >= dt.timedelta(days=3650)
    assert leaf.not_valid_after_utc - leaf.not_valid_before_utc < dt.timedelta(days=398)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_the_ca_can_vouch_for_loopback_names_only():
    ca = load(ensure_certificates().ca_cert)

    constraints = ca.extensions.get_extension_for_class(x509.NameConstraints)
    assert constraints.critical
    permitted = constraints.value.permitted_subtrees
    assert x509.DNSName("localhost") in permitted
    assert len(permitted) == 3


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_private_keys_are_readable_by_their_owner_only():
    paths = ensure_certificates()

    for key in (paths.key, paths.ca_cert.with_suffix(".key")):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_existing_certificates_are_reused():
    first = ensure_certificates()
    before = (first.ca_cert.read_bytes(), first.cert.read_bytes())

    second = ensure_certificates()

    assert (second.ca_cert.read_bytes(), second.cert.read_bytes()) == before


def test_an_expiring_leaf_is_reissued_from_the_same_ca():
    paths = ensure_certificates()
    ca_before, leaf_before = paths.ca_cert.read_bytes(), load(paths.cert)

    later = leaf_before.not_valid_after_utc - dt.timedelta(days=1)
    ensure_certificates(now=later)

    leaf_after = load(paths.cert)
    assert paths.ca_cert.read_bytes() == ca_before
    assert leaf_after.serial_number != leaf_before.serial_number
    assert leaf_after.not_valid_after_utc > leaf_before.not_valid_after_utc
    leaf_after.verify_directly_issued_by(load(paths.ca_cert))


def test_an_expired_ca_is_replaced_with_its_leaf():
    paths = ensure_certificates()
    ca_before = load(paths.ca_cert)

    ensure_certificates(now=ca_before.not_valid_after_utc + dt.timedelta(days=1))

    ca_after = load(paths.ca_cert)
    assert ca_after.serial_number != ca_before.serial_number
    load(paths.cert).verify_directly_issued_by(ca_after)
