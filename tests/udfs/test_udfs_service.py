"""The UDFs called as plain Python (as xlwings leaves them off Windows) against a real service.

Expected answers follow the fake GLM server's documented oracle (tests/fake_glm.py): translate
gives "[<to>] <text>", ask "[<prompt>] <text>", classify the first label found in the text,
extract the first e-mail address / first capitalised word.
"""

from __future__ import annotations

import datetime as dt
import json

from excel_glm import udfs_client
from excel_glm.udfs import GLM, GLM_CLASSIFY, GLM_EXTRACT, GLM_TRANSLATE

from .udf_service import free_port

PARAMS_MARKER = "Task parameters (JSON): "


def params_sent(fake_glm) -> list[dict]:
    """The task parameters the engine put in each request's system message."""
    found = []
    for record in fake_glm.requests:
        system = record.body["messages"][0]["content"]
        line = next(ln for ln in system.splitlines() if ln.startswith(PARAMS_MARKER))
        found.append(json.loads(line[len(PARAMS_MARKER) :]))
    return found


def test_translate_one_cell_answers_in_one_cell(service):
    assert GLM_TRANSLATE("Bonjour", "English") == [["[English] Bonjour"]]


def test_translate_range_keeps_shape_and_positions(service):
    text = [["uno", "dos", "tres"], ["cuatro", None, "seis"]]

    answer = GLM_TRANSLATE(text, "English")

    assert answer == [
        ["[English] uno", "[English] dos", "[English] tres"],
        ["[English] cuatro", "", "[English] seis"],
    ]


def test_blank_numbers_booleans_and_dates_follow_the_engine_rule(service, fake_glm):
    column = [["Hola"], [None], [42.0], [0.5], [True], [dt.datetime(2026, 1, 5, 9, 30)]]

    answer = GLM_TRANSLATE(column, "English")

    assert answer == [
        ["[English] Hola"],
        [""],
        ["[English] 42"],
        ["[English] 0.5"],
        ["[English] TRUE"],
        ["[English] 2026-01-05T09:30:00"],
    ]
    assert "" not in fake_glm.items_sent()  # a blank cell costs no call


def test_excel_error_input_is_an_error_in_that_cell_only(service, fake_glm):
    answer = GLM_TRANSLATE([["Hola"], ["#DIV/0!"], ["Adiós"]], "English")

    assert answer[0] == ["[English] Hola"]
    assert answer[1][0].startswith("#GLM! ")
    assert "#DIV/0!" in answer[1][0]
    assert answer[2] == ["[English] Adiós"]
    assert "#DIV/0!" not in fake_glm.items_sent()


def test_a_cell_the_model_keeps_failing_errs_alone(service, fake_glm):
    fake_glm.inject("non_json", times=None, match="POISON")

    answer = GLM_TRANSLATE([["Hola"], ["POISON pill"], ["Adiós"]], "English")

    assert answer[0] == ["[English] Hola"]
    assert answer[1][0].startswith("#GLM! ")
    assert answer[2] == ["[English] Adiós"]


def test_translate_passes_the_source_language(service, fake_glm):
    GLM_TRANSLATE([["Bonjour"]], "English", "French")

    assert params_sent(fake_glm)[-1]["from"] == "French"


def test_classify_labels_from_a_comma_text_or_a_range_agree(service):
    text = [["I love it"], ["this is bad"], [None]]

    from_text = GLM_CLASSIFY(text, "love, bad")
    from_range = GLM_CLASSIFY(text, [["love"], ["bad"]])

    assert from_text == [["love"], ["bad"], [""]]
    assert from_range == from_text


def test_classify_sends_the_instructions(service, fake_glm):
    GLM_CLASSIFY("I love it", "love,bad", "Judge the tone")

    assert params_sent(fake_glm)[-1]["instructions"] == "Judge the tone"


def test_extract_spills_one_column_per_field(service):
    text = [["Write to Ann at ann@example.com"], [None], ["Bob has no address"]]

    answer = GLM_EXTRACT(text, "email, name")

    assert answer == [["ann@example.com", "Write"], ["", ""], ["", "Bob"]]


def test_extract_fields_from_a_range_row(service):
    answer = GLM_EXTRACT("Write to Ann at ann@example.com", [["name", "email"]])

    assert answer == [["Write", "ann@example.com"]]


def test_extract_two_dimensional_input_gives_one_row_per_cell(service):
    answer = GLM_EXTRACT([["Ann a@x.io", "Bob b@y.io"]], "email")

    assert answer == [["a@x.io"], ["b@y.io"]]


def test_glm_applies_the_prompt_to_each_value_cell(service):
    answer = GLM("Summarise", [["first review"], [None], ["second review"]])

    assert answer == [["[Summarise] first review"], [""], ["[Summarise] second review"]]


def test_glm_without_values_answers_each_prompt_cell(service):
    assert GLM([["What is 2+2?"], ["Capital of France?"]]) == [
        ["[answer] What is 2+2?"],
        ["[answer] Capital of France?"],
    ]


def test_glm_joins_several_value_ranges_position_by_position(service):
    answer = GLM("Compare", [["apple"], ["pear"]], [["red"], [None]], "fruit")

    assert answer == [["[Compare] apple\nred\nfruit"], ["[Compare] pear\nfruit"]]


def test_glm_value_ranges_of_different_shapes_are_one_clear_error(service, fake_glm):
    answer = GLM("Compare", [["a"], ["b"]], [["c", "d"]])

    assert len(answer) == 1 and len(answer[0]) == 1
    assert answer[0][0].startswith("#GLM! the value ranges must have the same shape")
    assert fake_glm.requests == []


def test_glm_prompt_must_be_one_cell_when_values_are_given(service):
    answer = GLM([["a"], ["b"]], [["x"], ["y"]])

    assert answer[0][0].startswith("#GLM! prompt must be one cell")


def test_a_large_range_travels_in_chunks_and_comes_back_in_order(service, monkeypatch):
    monkeypatch.setattr(udfs_client, "MAX_CELLS_PER_REQUEST", 3)
    text = [[f"row {i}"] for i in range(8)]

    answer = GLM_TRANSLATE(text, "English")

    assert answer == [[f"[English] row {i}"] for i in range(8)]


def test_stopped_service_gives_one_cell_saying_how_to_start_it(monkeypatch):
    port = free_port()
    monkeypatch.setenv("EXCEL_GLM_SERVICE_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("EXCEL_GLM_TOKEN", "some-token")

    answer = GLM_TRANSLATE([["uno"], ["dos"]], "English")

    assert answer == [
        [
            f"#GLM! excel-glm service not running at http://127.0.0.1:{port} — start it with: "
            f"excel-glm serve --http --port {port}"
        ]
    ]


def test_default_service_url_and_start_command(monkeypatch):
    monkeypatch.delenv("EXCEL_GLM_SERVICE_URL", raising=False)

    assert udfs_client.service_url(None) == "http://127.0.0.1:8765"
    assert udfs_client.start_command("http://127.0.0.1:8765") == "excel-glm serve --http"
    assert udfs_client.start_command("https://localhost:8765") == "excel-glm serve"
    assert (
        udfs_client.start_command("http://127.0.0.1:9001") == "excel-glm serve --http --port 9001"
    )


def test_no_stored_token_says_the_service_was_never_started(monkeypatch):
    monkeypatch.setenv("EXCEL_GLM_SERVICE_URL", f"http://127.0.0.1:{free_port()}")

    answer = GLM_TRANSLATE("uno", "English")

    assert answer[0][0].startswith("#GLM! excel-glm service has not been started yet")


def test_wrong_token_is_one_clear_cell_without_the_token(service, monkeypatch, fake_glm):
    monkeypatch.setenv("EXCEL_GLM_TOKEN", "not-the-token-123")

    answer = GLM_TRANSLATE([["uno"], ["dos"]], "English")

    assert len(answer) == 1
    assert answer[0][0].startswith("#GLM! ")
    assert "refused the token (401)" in answer[0][0]
    assert "not-the-token-123" not in answer[0][0]
    assert fake_glm.requests == []


def test_explicit_token_setting_is_used(start_service, monkeypatch):
    start_service(token="shared-secret-token")
    monkeypatch.setenv("EXCEL_GLM_TOKEN", "shared-secret-token")

    assert GLM_TRANSLATE("uno", "English") == [["[English] uno"]]


def test_bad_api_key_shows_the_service_message_never_the_key(service, fake_glm):
    fake_glm.inject("1000", times=None)

    answer = GLM_TRANSLATE([["uno"], ["dos"]], "English")

    assert len(answer) == 1
    message = answer[0][0]
    assert message.startswith("#GLM! ") and len(message) > len("#GLM! ")
    assert fake_glm.api_key not in message
    assert "fake-secret" not in message


def test_bad_parameters_show_the_service_message(service):
    answer = GLM_CLASSIFY([["x"], ["y"]], [[None]])

    assert len(answer) == 1
    assert answer[0][0].startswith("#GLM! ")
    assert "label" in answer[0][0].lower()


def test_missing_arguments_are_caught_before_any_call(service, fake_glm):
    assert GLM_TRANSLATE("uno", None)[0][0] == '#GLM! to_language is required, e.g. "English"'
    assert GLM_EXTRACT("uno", " , ")[0][0] == '#GLM! fields is required, e.g. "name,email"'
    assert fake_glm.requests == []


def test_model_output_that_looks_like_a_formula_is_returned_as_plain_text(service, fake_glm):
    fake_glm.oracle = lambda params, text: '=HYPERLINK("http://evil")'

    answer = GLM_TRANSLATE("uno", "English")

    # A UDF's result is a value, never a formula; the text arrives unchanged as a str.
    assert answer == [['=HYPERLINK("http://evil")']]


def test_https_service_is_reached_with_the_local_ca(start_service):
    start_service(https=True)

    assert GLM_TRANSLATE([["uno"], ["dos"]], "English") == [["[English] uno"], ["[English] dos"]]


def test_https_service_with_a_certificate_from_another_ca_is_refused(
    start_service, monkeypatch, tmp_path
):
    from excel_glm.certs import ensure_certificates
    from excel_glm.token import read_stored_token

    service = start_service(https=True)
    token = read_stored_token()
    assert token
    # The UDFs now trust a different local CA than the one that signed the service's certificate.
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "other-config"))
    ensure_certificates()
    monkeypatch.setenv("EXCEL_GLM_TOKEN", token)

    answer = GLM_TRANSLATE("uno", "English")

    assert answer == [
        [
            f"#GLM! the excel-glm service at {service.url} did not present a certificate from the "
            "local CA; restart it with: excel-glm serve"
        ]
    ]


def test_https_without_the_local_ca_says_how_to_create_it(monkeypatch):
    monkeypatch.setenv("EXCEL_GLM_SERVICE_URL", f"https://localhost:{free_port()}")
    monkeypatch.setenv("EXCEL_GLM_TOKEN", "some-token")

    answer = GLM_TRANSLATE("uno", "English")

    assert answer[0][0].startswith("#GLM! no local certificate authority at ")
    assert answer[0][0].endswith("start the service once with: excel-glm serve")


def test_an_excel_error_in_a_parameter_is_one_clear_error(service, fake_glm):
    assert GLM_TRANSLATE("uno", "#REF!") == [["#GLM! to_language is an Excel error: #REF!"]]
    assert GLM("#N/A", [["x"]]) == [["#GLM! prompt is an Excel error: #N/A"]]
    assert GLM_CLASSIFY("x", [["a"], ["#N/A"]]) == [["#GLM! labels is an Excel error: #N/A"]]
    assert fake_glm.requests == []
