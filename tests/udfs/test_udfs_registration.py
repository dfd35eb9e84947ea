"""What Excel on Windows would register: xlwings' real (BSD) UDF decorators applied to our module.

On Linux `xw.func` & co. do nothing, so these tests load xlwings/udfs.py with stand-ins for pywin32,
decorate a fresh copy of excel_glm/udfs.py with the real decorators and check the names, options
and the VBA wrappers xlwings would import into the workbook.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import io
import sys
import types
from pathlib import Path

import pytest

import excel_glm.udfs
from excel_glm.config import Settings
from excel_glm.udfs_setup import UDF_MODULE, UDF_NAMES, setup_text, xlwings_conf_lines

UDFS_FILE = Path(excel_glm.udfs.__file__)
CLIENT_FILE = UDFS_FILE.with_name("udfs_client.py")

# Words VBA reserves: a UDF argument named like one of these breaks the generated wrapper.
VBA_KEYWORD_TEXT = """
and as boolean byref byte byval call case const currency date declare dim do double each else
elseif end enum erase error event exit false for friend function get global gosub goto if
implements in integer is let lib like long loop me mod new next not nothing null on option
optional or paramarray preserve private property public raiseevent redim rem resume return
select set single static step stop string sub then to true type typeof until variant wend while
with withevents xor
"""
VBA_KEYWORDS = frozenset(VBA_KEYWORD_TEXT.split())
# Application.MacroOptions refuses descriptions longer than this (xlwings issue #735).
MACRO_OPTIONS_LIMIT = 255


@pytest.fixture
def windows_udfs(monkeypatch):
    """A fresh copy of excel_glm.udfs decorated by xlwings' Windows decorators."""
    for name, attrs in {
        "pythoncom": {"CoInitialize": lambda: None},
        "pywintypes": {},
        "win32com": {},
        "win32com.client": {"Dispatch": lambda *a, **k: None},
    }.items():
        module = types.ModuleType(name)
        for attr, value in attrs.items():
            setattr(module, attr, value)
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.delitem(sys.modules, "xlwings.udfs", raising=False)
    xl_udfs = importlib.import_module("xlwings.udfs")
    import xlwings

    monkeypatch.setattr(xlwings, "func", xl_udfs.xlfunc, raising=False)
    monkeypatch.setattr(xlwings, "arg", xl_udfs.xlarg, raising=False)
    monkeypatch.setattr(xlwings, "ret", xl_udfs.xlret, raising=False)
    spec = importlib.util.spec_from_file_location("excel_glm_udfs_on_windows", UDFS_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module, xl_udfs
    xl_udfs.com_executor.shutdown(wait=False)
    sys.modules.pop("xlwings.udfs", None)


def registered(module) -> dict[str, dict]:
    return {
        value.__xlfunc__["name"]: value.__xlfunc__
        for value in vars(module).values()
        if hasattr(value, "__xlfunc__")
    }


def test_excel_names_are_exactly_the_four_functions(windows_udfs):
    module, _ = windows_udfs

    assert (
        set(registered(module))
        == set(UDF_NAMES)
        == {
            "GLM",
            "GLM_TRANSLATE",
            "GLM_CLASSIFY",
            "GLM_EXTRACT",
        }
    )


def test_functions_run_in_a_thread_and_never_from_the_function_wizard(windows_udfs):
    module, _ = windows_udfs

    for info in registered(module).values():
        assert info["async_mode"] == "threading"
        assert info["call_in_wizard"] is False
        assert info["volatile"] is False


def test_text_arguments_are_two_dimensional_with_errors_as_text(windows_udfs):
    module, _ = windows_udfs
    functions = registered(module)

    for name in ("GLM_TRANSLATE", "GLM_CLASSIFY", "GLM_EXTRACT"):
        options = functions[name]["argmap"]["text"]["options"]
        assert options["ndim"] == 2 and options["err_to_str"] is True
    glm = functions["GLM"]["argmap"]
    assert glm["values"]["vararg"] is True
    assert glm["values"]["options"]["ndim"] == 2 and glm["prompt"]["options"]["ndim"] == 2


def test_every_converter_xlwings_would_use_exists(windows_udfs):
    from xlwings.conversion import accessors

    module, _ = windows_udfs
    for info in registered(module).values():
        for arg in info["args"]:
            assert arg["options"].get("convert") in accessors, (info["name"], arg["name"])
        assert info["ret"]["options"].get("convert") in accessors, info["name"]


def test_descriptions_fit_excels_limit(windows_udfs):
    module, _ = windows_udfs
    for info in registered(module).values():
        assert len(info["ret"]["doc"]) <= MACRO_OPTIONS_LIMIT
        for arg in info["args"]:
            assert not arg["doc"].startswith("Positional argument"), (info["name"], arg["name"])
            assert len(arg["doc"]) <= MACRO_OPTIONS_LIMIT


def test_vba_wrappers_have_the_expected_signatures(windows_udfs):
    module, xl_udfs = windows_udfs
    vba = io.StringIO()

    xl_udfs.generate_vba_wrapper(UDF_MODULE, module, vba, types.SimpleNamespace(Name="Book1.xlsm"))

    text = vba.getvalue()
    for signature in (
        "Function GLM(prompt, ParamArray values())",
        "Function GLM_TRANSLATE(text, to_language, Optional from_language)",
        "Function GLM_CLASSIFY(text, labels, Optional instructions)",
        "Function GLM_EXTRACT(text, fields)",
    ):
        assert signature in text
    assert f'XLPy.CallUDF("{UDF_MODULE}", "GLM_TRANSLATE"' in text


def test_no_argument_is_named_like_a_vba_keyword(windows_udfs):
    module, _ = windows_udfs
    for info in registered(module).values():
        for arg in info["args"]:
            assert arg["name"].lower() not in VBA_KEYWORDS, (info["name"], arg["name"])


def test_the_udf_modules_import_nothing_from_xlwings_pro_or_server():
    for path in (UDFS_FILE, CLIENT_FILE):
        imported: list[str] = []
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                imported.append(node.module or "")
                if node.module == "xlwings":
                    imported += [f"xlwings.{alias.name}" for alias in node.names]
        assert not [
            name for name in imported if name.startswith(("xlwings.pro", "xlwings.server"))
        ], path


def test_setup_text_names_the_module_the_functions_and_the_service_command():
    text = setup_text(Settings(port=9123), interpreter=r"C:\Python311\python.exe")

    assert "excel-glm serve --http --port 9123" in text
    assert "http://127.0.0.1:9123" in text
    for line in xlwings_conf_lines(r"C:\Python311\python.exe"):
        assert line in text
    assert '"UDF MODULES","excel_glm.udfs"' in text
    for name in UDF_NAMES:
        assert name in text
    assert "Windows only" in text and "Office add-in" in text


def test_setup_text_default_port_has_the_plain_serve_command():
    text = setup_text(Settings())

    assert "     excel-glm serve --http\n" in text
    assert "--port" in text  # only in the hint about other ports
