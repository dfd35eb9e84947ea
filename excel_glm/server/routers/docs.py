"""/docs: the interactive OpenAPI explorer, with its Swagger UI files pinned by hash.

FastAPI's own /docs loads Swagger UI from a CDN at a floating major version. That script runs in
the service's origin, where it could fetch the task pane and read the add-in's token, so a
changed or compromised CDN file could spend the user's credit. Here the version is fixed and each
file carries its Subresource Integrity hash: the browser refuses any other bytes.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(tags=["docs"])

SWAGGER_UI_VERSION = "5.35.0"
_CDN = f"https://cdn.jsdelivr.net/npm/swagger-ui-dist@{SWAGGER_UI_VERSION}"
# sha384 of swagger-ui-dist@5.35.0's files as published on npm (the CDN serves the same bytes).
SWAGGER_JS_SRI = "sha384-gjRm0bEPMeTmMh5jT2cHccIwCUZSTd8YC+j0d0sXw0MdGEfScduGpSyF3ZSSLkX9"
SWAGGER_CSS_SRI = "sha384-WlYgdmXYOOBWL5apwjDEZwN+U3HmXSSu5R6V5aGxEcf7z+KuRNwBhoxKVN1i3D5I"

_PAGE = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>excel-glm API</title>
<link rel="stylesheet" href="{_CDN}/swagger-ui.css" integrity="{SWAGGER_CSS_SRI}"
 crossorigin="anonymous" referrerpolicy="no-referrer">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{_CDN}/swagger-ui-bundle.js" integrity="{SWAGGER_JS_SRI}"
 crossorigin="anonymous" referrerpolicy="no-referrer"></script>
<script>
SwaggerUIBundle({{url: "/openapi.json", dom_id: "#swagger-ui", layout: "BaseLayout",
  deepLinking: true, presets: [SwaggerUIBundle.presets.apis]}});
</script>
</body>
</html>
"""


@router.get("/docs", include_in_schema=False)
async def swagger_ui() -> HTMLResponse:
    """The API explorer (no token needed to read it; its Authorize button takes the token)."""
    return HTMLResponse(_PAGE, headers={"Cache-Control": "no-store"})
