"""/docs: the API explorer loads only pinned, hash-checked Swagger UI files."""

from __future__ import annotations

import re

from excel_glm.server.app import create_app


async def test_the_docs_page_pins_every_external_file_by_hash(glm_settings, serve_app):
    async with serve_app(create_app(glm_settings())) as client:
        page = await client.get("/docs")

    assert page.status_code == 200
    external = re.findall(r'(?:src|href)="(https://[^"]+)"', page.text)
    assert external, "the page loads Swagger UI from the CDN"
    for url in external:
        assert re.search(r"@\d+\.\d+\.\d+/", url), f"{url} floats on a version range"
    tags = re.findall(r"<(?:script|link)[^>]+https://[^>]+>", page.text)
    assert len(tags) == len(external)
    assert all('integrity="sha384-' in tag and 'crossorigin="anonymous"' in tag for tag in tags)


async def test_the_redoc_page_with_its_unpinned_script_is_not_served(glm_settings, serve_app):
    async with serve_app(create_app(glm_settings())) as client:
        assert (await client.get("/redoc")).status_code == 404
        assert (await client.get("/openapi.json")).status_code == 200
