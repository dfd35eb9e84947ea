"""What a user needs to register the excel-glm UDFs with xlwings' add-in (`excel-glm xlwings`)."""

from __future__ import annotations

import sys

from excel_glm.config import Settings
from excel_glm.udfs_client import DEFAULT_PORT

UDF_MODULE = "excel_glm.udfs"
UDF_NAMES = ("GLM", "GLM_TRANSLATE", "GLM_CLASSIFY", "GLM_EXTRACT")


def xlwings_conf_lines(interpreter: str) -> list[str]:
    """The lines for %USERPROFILE%\\.xlwings\\xlwings.conf that point xlwings at the UDF module."""
    return [f'"INTERPRETER_WIN","{interpreter}"', f'"UDF MODULES","{UDF_MODULE}"']


def setup_text(settings: Settings, *, interpreter: str | None = None) -> str:
    """Step-by-step instructions for using =GLM() and friends from xlwings on this machine."""
    python = interpreter or _windows_interpreter()
    port = settings.port
    serve = "excel-glm serve --http" + ("" if port == DEFAULT_PORT else f" --port {port}")
    conf = "\n".join(f"     {line}" for line in xlwings_conf_lines(python))
    return f"""\
excel-glm from xlwings: =GLM(), =GLM_TRANSLATE(), =GLM_CLASSIFY(), =GLM_EXTRACT()

xlwings UDFs work in Excel on Windows only. On a Mac (or Excel on the web) use the Office add-in
instead: run `excel-glm serve` and sideload https://localhost:{port}/addin/manifest.xml.

1. Start the service (keep it running; the UDFs send their cells to it, the API key stays there):
     {serve}
   The UDFs find it at http://127.0.0.1:{port}. If you start it on another port with --port N,
   set the user environment variable EXCEL_GLM_SERVICE_URL=http://127.0.0.1:N for Excel too.
2. Install the xlwings add-in into Excel (once):
     xlwings addin install
3. In Excel: File > Options > Trust Center > Trust Center Settings > Macro Settings, tick
   "Trust access to the VBA project object model" (xlwings writes the VBA wrappers).
4. Tell xlwings which Python and which module to use: the python.exe of the environment where
   excel-glm is installed (`where python` in it prints the path), and the module {UDF_MODULE}.
   Either fill in Interpreter and UDF Modules in the xlwings ribbon tab, or add these lines to
   %USERPROFILE%\\.xlwings\\xlwings.conf:
{conf}
5. Use a macro-enabled workbook that references the xlwings add-in; the easiest is
     xlwings quickstart myproject
   then open myproject.xlsm.
6. In the xlwings ribbon tab click "Import Functions". This registers
   {", ".join(UDF_NAMES)}.
7. Type a formula; ranges spill one answer per cell:
     =GLM_TRANSLATE(A2:A100, "English")
     =GLM_CLASSIFY(B2:B100, "positive,negative,neutral")
     =GLM_EXTRACT(C2:C100, "name,email")      (one column per field)
     =GLM("Summarise in five words", D2:D100)

A cell that could not be answered reads "#GLM! <reason>". Recalculating is free: answers are cached
by the service, which the Office add-in and the command line share.
"""


def _windows_interpreter() -> str:
    """This Python when run on Windows; elsewhere a placeholder (the path must be a Windows one)."""
    if sys.platform.startswith("win"):
        return sys.executable
    return r"C:\path\to\python.exe"
