"""The add-in's manifest, functions.json and functions.js agree with each other and with Office."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from lxml import etree

ADDIN_DIR = Path(__file__).resolve().parents[2] / "addin"
EXPECTED_FUNCTION_IDS = {"GLM", "GLM_TRANSLATE", "GLM_CLASSIFY", "GLM_EXTRACT"}
DEV_ORIGIN = "https://localhost:8765"

APP_NS = "http://schemas.microsoft.com/office/appforoffice/1.1"
OVERRIDES_NS = "http://schemas.microsoft.com/office/taskpaneappversionoverrides"
BT_NS = "http://schemas.microsoft.com/office/officeappbasictypes/1.0"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
NS = {"o": APP_NS, "v": OVERRIDES_NS, "bt": BT_NS}
XSI_TYPE = f"{{{XSI_NS}}}type"

# The order Microsoft's schema requires for OfficeApp's children (task pane add-ins).
OFFICE_APP_ORDER = [
    "Id",
    "AlternateId",
    "Version",
    "ProviderName",
    "DefaultLocale",
    "DisplayName",
    "Description",
    "IconUrl",
    "HighResolutionIconUrl",
    "SupportUrl",
    "AppDomains",
    "Hosts",
    "Requirements",
    "DefaultSettings",
    "Permissions",
    "VersionOverrides",
]
REQUIRED_OFFICE_APP_CHILDREN = {
    "Id",
    "Version",
    "ProviderName",
    "DefaultLocale",
    "DisplayName",
    "Description",
    "IconUrl",
    "HighResolutionIconUrl",
    "SupportUrl",
    "Hosts",
    "Requirements",
    "DefaultSettings",
    "Permissions",
    "VersionOverrides",
}
HOST_ORDER = ["Runtimes", "AllFormFactors", "DesktopFormFactor"]
DESKTOP_ORDER = ["GetStarted", "FunctionFile", "ExtensionPoint"]
CUSTOM_FUNCTIONS_ORDER = ["Script", "Page", "Metadata", "Namespace"]
RESOURCES_ORDER = ["Images", "Urls", "ShortStrings", "LongStrings"]
CONTROL_ORDER = ["Label", "Supertip", "Icon", "Action"]
GROUP_ORDER = ["Label", "Icon", "Control"]


@pytest.fixture(scope="module")
def manifest() -> etree._Element:
    return etree.parse(str(ADDIN_DIR / "manifest.xml")).getroot()


@pytest.fixture(scope="module")
def metadata() -> dict:
    return json.loads((ADDIN_DIR / "functions.json").read_text(encoding="utf-8"))


def local_names(element: etree._Element) -> list[str]:
    return [etree.QName(child).localname for child in element if isinstance(child.tag, str)]


def assert_in_order(names: list[str], order: list[str]) -> None:
    """Every name is known and they appear in the schema's order (each at most once)."""
    unknown = [name for name in names if name not in order]
    assert not unknown, f"unexpected elements {unknown}"
    positions = [order.index(name) for name in names]
    assert positions == sorted(positions), f"{names} is not in the order {order}"
    assert len(set(names)) == len(names), f"repeated elements in {names}"


def the_host(manifest: etree._Element) -> etree._Element:
    hosts = manifest.findall("v:VersionOverrides/v:Hosts/v:Host", NS)
    assert len(hosts) == 1
    return hosts[0]


def custom_functions_point(manifest: etree._Element) -> etree._Element:
    points = [
        point
        for point in manifest.iterfind(".//v:ExtensionPoint", NS)
        if point.get(XSI_TYPE) == "CustomFunctions"
    ]
    assert len(points) == 1
    return points[0]


def defined_resources(manifest: etree._Element) -> dict[str, str]:
    resources = manifest.find("v:VersionOverrides/v:Resources", NS)
    assert resources is not None
    defined: dict[str, str] = {}
    for element in resources.iter():
        if isinstance(element.tag, str) and element.get("id") is not None:
            assert element.get("id") not in defined, f"resource id {element.get('id')} repeated"
            defined[element.get("id")] = element.get("DefaultValue")
    return defined


def test_root_is_a_task_pane_app_in_the_office_namespaces(manifest):
    assert manifest.tag == f"{{{APP_NS}}}OfficeApp"
    assert manifest.get(XSI_TYPE) == "TaskPaneApp"
    assert manifest.nsmap.get("bt") == BT_NS
    overrides = manifest.find("v:VersionOverrides", NS)
    assert overrides is not None
    assert overrides.get(XSI_TYPE) == "VersionOverridesV1_0"


def test_office_app_children_follow_the_schema_order(manifest):
    names = local_names(manifest)
    assert_in_order(names, OFFICE_APP_ORDER)
    assert set(names) >= REQUIRED_OFFICE_APP_CHILDREN


def test_version_overrides_children_follow_the_schema_order(manifest):
    host = the_host(manifest)
    assert host.get(XSI_TYPE) == "Workbook"
    assert_in_order(local_names(host), HOST_ORDER)
    assert_in_order(local_names(host.find("v:DesktopFormFactor", NS)), DESKTOP_ORDER)
    assert_in_order(local_names(custom_functions_point(manifest)), CUSTOM_FUNCTIONS_ORDER)
    resources = manifest.find("v:VersionOverrides/v:Resources", NS)
    assert_in_order(local_names(resources), RESOURCES_ORDER)
    assert local_names(manifest.find("v:VersionOverrides", NS)) == ["Hosts", "Resources"]
    for group in manifest.iterfind(".//v:Group", NS):
        assert_in_order(local_names(group), GROUP_ORDER)
    for control in manifest.iterfind(".//v:Control", NS):
        assert_in_order(local_names(control), CONTROL_ORDER)


def test_requires_shared_runtime_and_custom_functions_runtime(manifest):
    sets = {
        element.get("Name"): element.get("MinVersion")
        for element in manifest.iterfind("o:Requirements/o:Sets/o:Set", NS)
    }
    assert sets == {"SharedRuntime": "1.1", "CustomFunctionsRuntime": "1.1"}
    assert [host.get("Name") for host in manifest.iterfind("o:Hosts/o:Host", NS)] == ["Workbook"]


def test_the_runtime_is_shared_with_the_custom_functions_page(manifest):
    runtimes = the_host(manifest).findall("v:Runtimes/v:Runtime", NS)
    assert len(runtimes) == 1
    assert runtimes[0].get("lifetime") == "long"
    point = custom_functions_point(manifest)
    page = point.find("v:Page/v:SourceLocation", NS)
    assert page.get("resid") == runtimes[0].get("resid")
    function_file = the_host(manifest).find("v:DesktopFormFactor/v:FunctionFile", NS)
    assert function_file.get("resid") == runtimes[0].get("resid")


def test_custom_functions_have_no_namespace(manifest):
    namespaces = custom_functions_point(manifest).findall("v:Namespace", NS)
    assert namespaces == [], "a Namespace would make users type =NS.GLM(...)"


def test_custom_functions_point_at_the_shipped_files(manifest):
    defined = defined_resources(manifest)
    point = custom_functions_point(manifest)
    script = defined[point.find("v:Script/v:SourceLocation", NS).get("resid")]
    metadata = defined[point.find("v:Metadata/v:SourceLocation", NS).get("resid")]
    page = defined[point.find("v:Page/v:SourceLocation", NS).get("resid")]
    assert script == f"{DEV_ORIGIN}/addin/functions.js"
    assert metadata == f"{DEV_ORIGIN}/addin/functions.json"
    assert page == f"{DEV_ORIGIN}/addin/taskpane.html"


def test_every_resid_is_defined_once(manifest):
    defined = defined_resources(manifest)
    used = {element.get("resid") for element in manifest.iter() if element.get("resid") is not None}
    assert used, "the manifest uses resources"
    assert used <= set(defined), f"undefined resid: {used - set(defined)}"
    for resid in used:
        assert len(resid) <= 32, f"resid {resid!r} is longer than 32 characters"


def test_element_ids_are_unique(manifest):
    ids = [
        element.get("id")
        for element in manifest.iter()
        if isinstance(element.tag, str) and element.get("id") is not None
    ]
    assert len(ids) == len(set(ids))


def test_every_url_is_https_on_the_dev_origin(manifest):
    urls = [
        value
        for element in manifest.iter()
        if isinstance(element.tag, str)
        for value in [element.get("DefaultValue"), element.text]
        if value and "://" in value
    ]
    assert len(urls) >= 8
    for url in urls:
        assert url.startswith(f"{DEV_ORIGIN}/") or url == DEV_ORIGIN, url


def test_every_referenced_file_exists_in_the_addin_folder(manifest):
    for element in manifest.iter():
        value = element.get("DefaultValue") if isinstance(element.tag, str) else None
        if value and value.startswith(f"{DEV_ORIGIN}/addin/"):
            relative = value.removeprefix(f"{DEV_ORIGIN}/addin/")
            assert (ADDIN_DIR / relative).is_file(), f"{relative} is referenced but missing"


def test_development_identity(manifest):
    assert manifest.find("o:DisplayName", NS).get("DefaultValue") == "excel-glm (dev)"
    identifier = manifest.find("o:Id", NS).text
    uuid4 = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
    assert re.fullmatch(uuid4, identifier)
    assert re.fullmatch(r"\d+\.\d+\.\d+\.\d+", manifest.find("o:Version", NS).text)


def test_the_ribbon_button_shows_the_task_pane(manifest):
    defined = defined_resources(manifest)
    surfaces = [
        point
        for point in manifest.iterfind(".//v:ExtensionPoint", NS)
        if point.get(XSI_TYPE) == "PrimaryCommandSurface"
    ]
    assert len(surfaces) == 1
    actions = surfaces[0].findall(".//v:Action", NS)
    assert [action.get(XSI_TYPE) for action in actions] == ["ShowTaskpane"]
    location = actions[0].find("v:SourceLocation", NS).get("resid")
    assert defined[location] == f"{DEV_ORIGIN}/addin/taskpane.html"


def test_function_ids_agree_across_metadata_script_and_expectations(metadata):
    ids = [function["id"] for function in metadata["functions"]]
    assert len(ids) == len(set(ids))
    assert set(ids) == EXPECTED_FUNCTION_IDS
    script = (ADDIN_DIR / "functions.js").read_text(encoding="utf-8")
    associated = re.findall(r"CustomFunctions\.associate\(\s*[\"']([A-Z0-9_.]+)[\"']", script)
    assert sorted(associated) == sorted(ids)


def test_function_metadata_is_sane(metadata):
    assert metadata["allowErrorForDataTypeAny"] is True
    for function in metadata["functions"]:
        assert function["name"] == function["id"] == function["id"].upper()
        assert re.fullmatch(r"[A-Z][A-Z0-9_.]{2,}", function["id"])
        assert function["result"]["dimensionality"] == "matrix"
        assert function["options"].get("cancelable") is True
        assert not function["options"].get("stream"), "cancelable and stream exclude each other"
        parameters = function["parameters"]
        names = [parameter["name"] for parameter in parameters]
        assert len(names) == len(set(names))
        seen_optional = False
        for position, parameter in enumerate(parameters):
            assert parameter["dimensionality"] in {"scalar", "matrix"}
            assert parameter.get("type", "any") == "any"
            assert parameter.get("description")
            optional = parameter.get("optional", False) or parameter.get("repeating", False)
            assert optional or not seen_optional, f"{function['id']}: required after optional"
            seen_optional = seen_optional or optional
            if parameter.get("repeating"):
                assert position == len(parameters) - 1, "a repeating parameter must be last"
        # The text a function works on is a cell or a range.
        assert parameters[0 if function["id"] != "GLM" else 1]["dimensionality"] == "matrix"


@pytest.mark.parametrize(
    ("function_id", "expected"),
    [
        ("GLM", ["prompt", "values"]),
        ("GLM_TRANSLATE", ["text", "to", "from"]),
        ("GLM_CLASSIFY", ["text", "labels", "instructions"]),
        ("GLM_EXTRACT", ["text", "fields"]),
    ],
)
def test_function_signatures(metadata, function_id, expected):
    function = next(f for f in metadata["functions"] if f["id"] == function_id)
    assert [parameter["name"] for parameter in function["parameters"]] == expected


# Lengths Microsoft documents for resource strings and the manifest's own texts.
SHORT_STRING_MAX = 125
LONG_STRING_MAX = 250
DISPLAY_NAME_MAX = 125
DESCRIPTION_MAX = 2000


def test_resource_strings_fit_the_documented_lengths(manifest):
    resources = manifest.find("v:VersionOverrides/v:Resources", NS)
    short = resources.findall("bt:ShortStrings/bt:String", NS)
    long = resources.findall("bt:LongStrings/bt:String", NS)
    assert short and long
    for element in short:
        assert len(element.get("DefaultValue")) <= SHORT_STRING_MAX, element.get("id")
    for element in long:
        assert len(element.get("DefaultValue")) <= LONG_STRING_MAX, element.get("id")
    assert len(manifest.find("o:DisplayName", NS).get("DefaultValue")) <= DISPLAY_NAME_MAX
    assert len(manifest.find("o:Description", NS).get("DefaultValue")) <= DESCRIPTION_MAX


def test_labels_and_tooltips_use_the_right_kind_of_string(manifest):
    """Labels and titles are short strings, descriptions long ones, as the schema types them."""
    resources = manifest.find("v:VersionOverrides/v:Resources", NS)
    short = {element.get("id") for element in resources.iterfind("bt:ShortStrings/bt:String", NS)}
    long = {element.get("id") for element in resources.iterfind("bt:LongStrings/bt:String", NS)}
    urls = {element.get("id") for element in resources.iterfind("bt:Urls/bt:Url", NS)}
    images = {element.get("id") for element in resources.iterfind("bt:Images/bt:Image", NS)}
    expected_kind = {"Label": short, "Title": short, "Description": long, "LearnMoreUrl": urls}
    for element in manifest.find("v:VersionOverrides/v:Hosts", NS).iter():
        if not isinstance(element.tag, str) or element.get("resid") is None:
            continue
        name = etree.QName(element).localname
        if name in expected_kind:
            assert element.get("resid") in expected_kind[name], f"{name} {element.get('resid')}"
        elif name == "Image":
            assert element.get("resid") in images
        else:
            assert element.get("resid") in urls, f"{name} {element.get('resid')}"


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    return int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")


def test_icons_have_the_sizes_the_manifest_declares(manifest):
    defined = defined_resources(manifest)
    for image in manifest.iterfind(".//v:Icon/bt:Image", NS):
        size = int(image.get("size"))
        assert size in {16, 32, 80}
        relative = defined[image.get("resid")].removeprefix(f"{DEV_ORIGIN}/addin/")
        assert png_size(ADDIN_DIR / relative) == (size, size), relative
    icon = manifest.find("o:IconUrl", NS).get("DefaultValue").removeprefix(f"{DEV_ORIGIN}/addin/")
    high = manifest.find("o:HighResolutionIconUrl", NS).get("DefaultValue")
    assert png_size(ADDIN_DIR / icon) == (32, 32)
    assert png_size(ADDIN_DIR / high.removeprefix(f"{DEV_ORIGIN}/addin/")) == (64, 64)


# Every key Microsoft's custom-functions metadata schema knows; Excel rejects the file on others.
METADATA_KEYS = {
    "$schema",
    "functions",
    "enums",
    "allowErrorForDataTypeAny",
    "allowCustomDataForDataTypeAny",
}
FUNCTION_KEYS = {"id", "name", "description", "helpUrl", "parameters", "result", "options"}
PARAMETER_KEYS = {
    "name",
    "description",
    "type",
    "dimensionality",
    "optional",
    "repeating",
    "cellValueType",
    "customEnumId",
}
RESULT_KEYS = {"type", "dimensionality"}
OPTION_KEYS = {
    "cancelable",
    "requiresAddress",
    "requiresParameterAddresses",
    "stream",
    "volatile",
    "requiresStreamAddress",
    "requiresStreamParameterAddresses",
    "excludeFromAutoComplete",
    "linkedEntityLoadService",
    "capturesCallingObject",
}
PARAMETER_TYPES = {"boolean", "number", "string", "any"}


def test_function_metadata_has_no_keys_outside_the_schema(metadata):
    assert set(metadata) <= METADATA_KEYS
    for function in metadata["functions"]:
        assert set(function) <= FUNCTION_KEYS, function["id"]
        assert set(function["result"]) <= RESULT_KEYS
        assert set(function.get("options", {})) <= OPTION_KEYS
        assert all(isinstance(value, bool) for value in function.get("options", {}).values())
        for parameter in function["parameters"]:
            assert set(parameter) <= PARAMETER_KEYS, f"{function['id']}.{parameter['name']}"
            assert parameter.get("type", "any") in PARAMETER_TYPES
        # requiresParameterAddresses needs a matrix result; stream excludes cancelable and address.
        options = function.get("options", {})
        if options.get("requiresParameterAddresses"):
            assert function["result"]["dimensionality"] == "matrix"
        if options.get("stream"):
            assert not options.get("cancelable") and not options.get("requiresAddress")
