"""The add-in's files: served without the token, manifest with this origin, task pane with it."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from excel_glm.config import Settings, default_addin_dir
from excel_glm.server.app import create_app

MANIFEST = """<?xml version="1.0" encoding="UTF-8"?>
<OfficeApp><IconUrl DefaultValue="https://localhost:8765/addin/assets/icon-32.png"/>
<AppDomain>https://localhost:8765</AppDomain>
<SourceLocation DefaultValue="https://localhost:8765/addin/taskpane.html"/></OfficeApp>
"""
TASKPANE = """<!doctype html><html><head>
<meta charset="utf-8"><meta name="excel-glm-token" content="">
<script src="taskpane.js"></script></head><body>excel-glm</body></html>
"""


@pytest.fixture
def addin_dir(tmp_path):
    folder = tmp_path / "addin"
    (folder / "assets").mkdir(parents=True)
    (folder / "manifest.xml").write_text(MANIFEST)
    (folder / "taskpane.html").write_text(TASKPANE)
    (folder / "functions.js").write_text("CustomFunctions.associate('GLM', glm);\n")
    (folder / "functions.json").write_text('{"functions": []}')
    (folder / "assets" / "icon-32.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (folder / ".secret").write_text("HIDDEN-CONTENT")
    (tmp_path / "outside.txt").write_text("OUTSIDE-CONTENT")
    return folder


async def test_the_manifest_names_this_services_origin(glm_settings, serve_app, addin_dir):
    app = create_app(glm_settings(port=9443, addin_dir=addin_dir))

    async with serve_app(app) as client:
        client.base_url = "https://localhost:9443"
        response = await client.get("/addin/manifest.xml", headers={"Authorization": ""})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    assert "https://localhost:8765" not in response.text
    assert response.text.count("https://localhost:9443/") == 2
    assert "<AppDomain>https://localhost:9443</AppDomain>" in response.text


async def test_the_task_pane_carries_the_token_and_is_never_cached(
    glm_settings, serve_app, addin_dir
):
    app = create_app(glm_settings(addin_dir=addin_dir))
    token = app.state.service.token

    async with serve_app(app) as client:
        response = await client.get("/addin/taskpane.html", headers={"Authorization": ""})

    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-type"].startswith("text/html")
    assert f'<meta name="excel-glm-token" content="{token}">' in response.text
    assert response.text.count(token) == 1
    assert "access-control-allow-origin" not in response.headers


async def test_a_token_with_markup_is_escaped_in_the_task_pane(glm_settings, serve_app, addin_dir):
    app = create_app(glm_settings(addin_dir=addin_dir, token='a"><script>x</script>'))

    async with serve_app(app) as client:
        response = await client.get("/addin/taskpane.html")

    assert "<script>x</script>" not in response.text
    assert 'content="a&quot;&gt;&lt;script&gt;x&lt;/script&gt;"' in response.text


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("functions.js", "text/javascript"),
        ("functions.json", "application/json"),
        ("assets/icon-32.png", "image/png"),
    ],
)
async def test_other_files_are_served_as_they_are(
    glm_settings, serve_app, addin_dir, path, content_type
):
    app = create_app(glm_settings(addin_dir=addin_dir))

    async with serve_app(app) as client:
        response = await client.get(f"/addin/{path}", headers={"Authorization": ""})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith(content_type)
    assert response.content == (addin_dir / path).read_bytes()


@pytest.mark.parametrize(
    "path",
    [
        "../outside.txt",
        "..%2Foutside.txt",
        ".secret",
        "assets/../../outside.txt",
        "nope.js",
        "assets",
        "%2Fetc%2Fpasswd",
    ],
)
async def test_nothing_outside_the_addin_folder_is_served(glm_settings, serve_app, addin_dir, path):
    app = create_app(glm_settings(addin_dir=addin_dir))

    async with serve_app(app) as client:
        response = await client.get(f"/addin/{path}")

    assert response.status_code == 404
    assert "OUTSIDE-CONTENT" not in response.text and "HIDDEN-CONTENT" not in response.text


def test_the_default_addin_folder_is_the_repositorys():
    import excel_glm

    package_parent = Path(excel_glm.__file__).resolve().parent.parent
    assert Settings(provider="local").resolved_addin_dir == package_parent / "addin"


async def test_excel_on_the_web_may_read_the_public_files_but_not_the_task_pane(
    glm_settings, serve_app, addin_dir
):
    app = create_app(glm_settings(addin_dir=addin_dir))
    office = {"Origin": "https://excel.officeapps.live.com", "Authorization": ""}

    async with serve_app(app) as client:
        metadata = await client.get("/addin/functions.json", headers=office)
        pane = await client.get("/addin/taskpane.html", headers=office)
        api = await client.post("/v1/cells", json={}, headers=office)

    assert metadata.status_code == 200
    assert metadata.headers["access-control-allow-origin"] == "*"
    assert pane.status_code == 403 and api.status_code == 403
    assert "access-control-allow-origin" not in pane.headers


async def test_the_token_goes_into_the_task_pane_only(glm_settings, serve_app, addin_dir):
    (addin_dir / "other.html").write_text(TASKPANE)
    (addin_dir / "alias.html").symlink_to(addin_dir / "taskpane.html")
    app = create_app(glm_settings(addin_dir=addin_dir))
    token = app.state.service.token

    async with serve_app(app) as client:
        other = await client.get("/addin/other.html")
        alias = await client.get("/addin/alias.html")

    assert other.status_code == alias.status_code == 200
    assert token not in other.text and token not in alias.text


def test_an_installed_package_finds_the_addin_in_its_shared_data_folder(tmp_path):
    site_package = tmp_path / "lib" / "site-packages" / "excel_glm"
    site_package.mkdir(parents=True)
    found = default_addin_dir(package_dir=site_package, prefix=tmp_path)
    assert found == tmp_path / "share" / "excel-glm" / "addin"


def test_the_wheel_carries_every_file_the_service_serves():
    repo = Path(__file__).resolve().parents[2]
    data_files = tomllib.loads((repo / "pyproject.toml").read_text())["tool"]["setuptools"][
        "data-files"
    ]
    shipped = {
        path.relative_to(repo / "addin")
        for patterns in data_files.values()
        for pattern in patterns
        for path in repo.glob(pattern)
    }
    served = {
        path.relative_to(repo / "addin")
        for path in (repo / "addin").rglob("*")
        if path.is_file() and "tests" not in path.relative_to(repo / "addin").parts
    }
    assert served and served == shipped
