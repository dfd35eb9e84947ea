"""Running the service: loopback binding, uvicorn options, the start-up message, real HTTPS."""

from __future__ import annotations

import logging
import ssl

import httpx
import pytest

from excel_glm.certs import CertPaths
from excel_glm.errors import ConfigError
from excel_glm.server.run import ServiceThread, startup_message, uvicorn_options

KEY = "h5-real-server-key.Xy7Qp3Mz9Lk2"


@pytest.mark.parametrize(
    ("host", "bound"), [("127.0.0.1", "127.0.0.1"), ("localhost", "127.0.0.1"), ("::1", "::1")]
)
def test_the_service_binds_a_loopback_address_exactly(host, bound):
    assert uvicorn_options(host=host, port=8765, certs=None)["host"] == bound


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "example.com", ""])
def test_any_other_address_is_refused(host):
    with pytest.raises(ConfigError, match="loopback"):
        uvicorn_options(host=host, port=8765, certs=None)


def test_https_passes_the_certificate_and_forwarded_headers_are_never_trusted(tmp_path):
    certs = CertPaths(tmp_path / "ca.pem", tmp_path / "cert.pem", tmp_path / "key.pem")

    options = uvicorn_options(host="127.0.0.1", port=8765, certs=certs)

    assert options["ssl_certfile"] == str(certs.cert)
    assert options["ssl_keyfile"] == str(certs.key)
    assert options["proxy_headers"] is False
    assert "ssl_certfile" not in uvicorn_options(host="127.0.0.1", port=8765, certs=None)


def test_the_startup_message_says_how_to_trust_the_ca_and_sideload_on_every_platform(tmp_path):
    certs = CertPaths(tmp_path / "ca.pem", tmp_path / "cert.pem", tmp_path / "key.pem")

    message = startup_message(port=9443, certs=certs)

    assert "https://localhost:9443" in message
    assert "https://localhost:9443/addin/manifest.xml" in message
    assert f'certutil -addstore -user Root "{certs.ca_cert}"' in message
    assert "security add-trusted-cert" in message
    assert "update-ca-certificates" in message
    assert "Trusted Add-in Catalogs" in message
    assert "Documents/wef" in message
    assert "Upload My Add-in" in message


def test_plain_http_says_it_is_for_xlwings_only():
    message = startup_message(port=8765, certs=None)

    assert "http://localhost:8765" in message
    assert "xlwings" in message


def test_the_real_server_answers_over_https_verified_by_the_local_ca(
    glm_settings, fake_glm, caplog
):
    caplog.set_level(logging.INFO)
    with ServiceThread(glm_settings(api_key=KEY), use_https=True) as service:
        context = ssl.create_default_context(cafile=str(service.ca_cert))
        base = f"https://localhost:{service.port}"
        with httpx.Client(verify=context, base_url=base, timeout=30) as client:
            health = client.get("/health")
            refused = client.post(
                "/v1/cells",
                json={"task": "translate", "values": [["a"]], "params": {"to": "en"}},
                headers={"Authorization": f"Bearer {service.token}"},
            )
            foreign = client.get("/health", headers={"Host": f"evil.example:{service.port}"})
        with httpx.Client() as untrusting, pytest.raises(httpx.ConnectError):
            untrusting.get(f"https://localhost:{service.port}/health")  # not our CA: refused

    assert health.status_code == 200
    assert health.json() == {"status": "ok", "provider": "glm", "model": "glm-5"}
    assert refused.status_code == 502  # the fake does not know this key
    assert foreign.status_code == 403
    assert KEY not in caplog.text and KEY not in refused.text
    assert service.token not in caplog.text
