"""The token, the keys and the CA a user trusts stay the user's own, whatever the umask: no other
account may read a secret or swap a file (a swapped CA, once trusted, could vouch for any site)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator

import pytest

from excel_glm.certs import ensure_certificates
from excel_glm.config import Settings, user_config_dir
from excel_glm.token import load_or_create_token, token_path

pytestmark = pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """Run with umask 000, as some desktop sessions and containers do."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def no_one_else_may_write(path) -> bool:
    return mode(path) & 0o022 == 0


def test_under_umask_0_the_token_and_its_folders_are_the_users_alone(permissive_umask):
    load_or_create_token(Settings(provider="local"))

    assert mode(token_path()) == 0o600
    folder = token_path().parent
    assert folder == user_config_dir()
    assert mode(folder) == 0o700
    assert no_one_else_may_write(folder.parent)  # ~/.config, made on the way


def test_under_umask_0_no_certificate_file_can_be_changed_by_others(permissive_umask):
    paths = ensure_certificates()

    for public in (paths.ca_cert, paths.cert):
        assert mode(public) == 0o644
    for private in (paths.key, paths.ca_cert.with_suffix(".key")):
        assert mode(private) == 0o600
    assert mode(paths.cert.parent) == 0o700
    assert no_one_else_may_write(paths.cert.parent.parent)


def test_a_config_folder_others_may_write_to_is_tightened_when_the_token_is_read():
    load_or_create_token(Settings(provider="local"))
    folder = token_path().parent
    folder.chmod(0o777)

    load_or_create_token(Settings(provider="local"))

    assert no_one_else_may_write(folder)


def test_a_private_key_restored_readable_by_others_is_tightened():
    paths = ensure_certificates()
    paths.key.chmod(0o644)

    again = ensure_certificates()

    assert again.key.read_bytes() == paths.key.read_bytes()  # reused, not replaced
    assert mode(again.key) == 0o600


def test_no_temporary_file_is_left_beside_the_certificates():
    paths = ensure_certificates()

    names = sorted(p.name for p in paths.cert.parent.iterdir())
    assert names == [
        "excel-glm-ca.key",
        "excel-glm-ca.pem",
        "localhost.key",
        "localhost.pem",
    ]
