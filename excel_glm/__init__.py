"""excel-glm: GLM-5 inside spreadsheets.

The public API is imported lazily so that `import excel_glm` stays cheap (the CLI, the service and
xlwings all import it at start-up):

    excel_glm.translate(values, to="English")      excel_glm.classify(values, labels=[...])
    excel_glm.extract(values, fields=[...])        excel_glm.ask(values, prompt="...")
    df["review"].glm.translate("English")          (after `import excel_glm`)
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["Settings", "ask", "classify", "extract", "translate"]

_LAZY = {
    "translate": "excel_glm.api",
    "classify": "excel_glm.api",
    "extract": "excel_glm.api",
    "ask": "excel_glm.api",
    "Settings": "excel_glm.config",
}


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'excel_glm' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module_name), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
