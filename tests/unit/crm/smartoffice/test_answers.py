"""Reading SmartOffice's answers: every error family, wherever it sits, and bodies that are not."""

from __future__ import annotations

import httpx
import pytest

from crm.smartoffice.answers import error_for_code, parse_xml, read_answer
from socialbridge.errors import AuthError, IntegrationError, PermanentError, RetryableError

INSERTED = b"""<?xml version="1.0" encoding="utf-8"?>
<response version="1.0" trace="evt_1/insert">
  <header><sessionClosed/></header>
  <insert><SmartPad id="SmartPad.7.501" _type="obj" _status="inserted"/></insert>
  <_status>OK</_status>
  <_systime>2026-03-02T14:05:09</_systime>
  <!-- Cost 31 mill seconds. -->
</response>"""


def answer(body: bytes | str, status: int = 200, **headers: str) -> httpx.Response:
    content = body.encode() if isinstance(body, str) else body
    return httpx.Response(status, content=content, headers=headers)


def top_level_error(code: str, message: str) -> str:
    return (
        '<response version="1.0" trace="evt_1/search"><header><sessionClosed/></header>'
        f'<error code="{code}">{message}</error></response>'
    )


def refused(response: httpx.Response) -> IntegrationError:
    with pytest.raises(IntegrationError) as caught:
        read_answer(response)
    return caught.value


def test_a_good_answer_is_returned_with_its_objects_and_status() -> None:
    read = read_answer(answer(INSERTED))

    assert read.status == "OK"
    assert read.systime == "2026-03-02T14:05:09"
    assert read.trace == "evt_1/insert"
    [pad] = read.objects("insert", "SmartPad")
    assert pad.get("id") == "SmartPad.7.501"
    assert pad.get("_status") == "inserted"


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("1", RetryableError),
        ("6", RetryableError),
        ("2003", RetryableError),
        ("2002", AuthError),
        ("10001", AuthError),
        ("1001", PermanentError),
        ("1002", PermanentError),
        ("2001", PermanentError),
        ("2004", PermanentError),
        ("2009", PermanentError),
        ("3004", PermanentError),
        ("4002", PermanentError),
        ("5001", PermanentError),
        ("6006", PermanentError),
        ("7002", PermanentError),
        ("8001", PermanentError),
        ("9999", PermanentError),
        ("7", PermanentError),
        ("abc", PermanentError),
    ],
)
def test_each_code_family_maps_to_its_error(code: str, kind: type[IntegrationError]) -> None:
    error = refused(answer(top_level_error(code, "Something  happened.\n")))

    assert type(error) is kind
    assert error.message == f"SmartOffice error {code}: Something happened."
    assert error.system == "crm"
    assert error.status == 200
    assert error.trace_id == "evt_1/search"


def test_the_code_decides_whatever_the_http_status() -> None:
    error = refused(answer(top_level_error("2002", "Login failed."), status=500))

    assert isinstance(error, AuthError)
    assert error.status == 500


def test_an_error_inside_an_object_is_found() -> None:
    body = """<response version="1.0"><header/>
      <get><Contact id="Contact.x" _status="error"><error code="3004">Invalid Object Id.</error>
      </Contact></get><_status>error</_status></response>"""

    error = refused(answer(body))

    assert isinstance(error, PermanentError)
    assert error.message == "SmartOffice error 3004: Invalid Object Id."


def test_an_error_inside_a_transaction_is_found() -> None:
    body = """<response version="1.0"><header/><transaction><insert>
      <SmartPad _status="error"><error code="4001">Property not found: Notes.</error></SmartPad>
      </insert></transaction><_status>error</_status></response>"""

    assert refused(answer(body)).message == "SmartOffice error 4001: Property not found: Notes."


def test_of_several_errors_the_most_severe_decides_and_the_others_are_named() -> None:
    body = """<response version="1.0"><header/><insert>
      <SmartPad _status="error"><error code="1">Internal error.</error></SmartPad>
      <SmartPad _status="error"><error code="10001">Data access denied.</error></SmartPad>
      <SmartPad _status="error"><error code="3001">Object not found.</error></SmartPad>
      </insert><_status>error</_status></response>"""

    error = refused(answer(body))

    assert isinstance(error, AuthError)
    assert error.message == (
        "SmartOffice error 10001: Data access denied. "
        "(also: 3001: Object not found.; 1: Internal error.)"
    )


def test_a_retryable_code_carries_retry_after() -> None:
    error = refused(answer(top_level_error("1", "Busy."), status=503, **{"retry-after": "30"}))

    assert isinstance(error, RetryableError)
    assert error.retry_after == 30.0


def test_an_error_status_without_a_code_is_permanent() -> None:
    body = '<response version="1.0"><header/><_status>error</_status></response>'

    error = refused(answer(body))

    assert isinstance(error, PermanentError)
    assert "without a code" in error.message


def test_a_response_without_errors_but_a_5xx_is_retryable() -> None:
    body = '<response version="1.0"><header/><_status>OK</_status></response>'

    assert isinstance(refused(answer(body, status=502)), RetryableError)


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408, 429])
def test_a_body_that_is_not_xml_is_read_by_http_status_retryable(status: int) -> None:
    error = refused(answer("upstream busy", status=status, **{"retry-after": "7"}))

    assert isinstance(error, RetryableError)
    assert error.retry_after == 7.0
    assert error.status == status
    assert "upstream busy" in error.message


@pytest.mark.parametrize("status", [401, 403])
def test_the_gateway_refusing_its_keys_is_an_auth_error(status: int) -> None:
    error = refused(answer('{"message": "Invalid API key"}', status=status))

    assert isinstance(error, AuthError)
    assert "Invalid API key" in error.message


@pytest.mark.parametrize("status", [200, 400, 404])
def test_other_bodies_that_are_not_xml_are_permanent_and_quoted(status: int) -> None:
    error = refused(answer("<html><body>Not here", status=status))

    assert isinstance(error, PermanentError)
    assert error.message.startswith("the answer is not SmartOffice XML: <html><body>Not here")


def test_xml_that_is_not_a_response_is_read_by_status() -> None:
    error = refused(answer("<html><body>Gateway Timeout</body></html>", status=504))

    assert isinstance(error, RetryableError)


def test_an_html_error_page_with_a_doctype_is_read_by_status() -> None:
    page = "<!DOCTYPE html><html><body>Bad Gateway</body></html>"

    assert isinstance(refused(answer(page, status=502)), RetryableError)


def test_a_redirect_asks_for_the_final_url() -> None:
    error = refused(answer("", status=302, location="https://elsewhere.example/xml"))

    assert isinstance(error, PermanentError)
    assert "redirect" in error.message


def test_a_long_body_is_quoted_only_in_part() -> None:
    error = refused(answer("x" * 5000, status=400))

    assert len(error.message) < 400


def test_entities_are_never_expanded() -> None:
    bomb = """<?xml version="1.0"?>
<!DOCTYPE response [<!ENTITY a "AAAAAAAAAA"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>
<response version="1.0"><header/><_status>&b;</_status></response>"""

    error = refused(answer(bomb))

    assert isinstance(error, PermanentError)
    # Quoted as sent, never expanded: the body holds ten A's in a row, an expansion eighty.
    assert "A" * 20 not in error.message
    assert "<_status>&b;</_status>" in error.message
    assert parse_xml(bomb.encode()) is None


def test_an_external_entity_is_never_fetched() -> None:
    xxe = """<?xml version="1.0"?>
<!DOCTYPE response [<!ENTITY x SYSTEM "file:///etc/hostname">]>
<response version="1.0"><error code="1">&x;</error></response>"""

    assert parse_xml(xxe.encode()) is None
    assert isinstance(refused(answer(xxe)), PermanentError)


def test_objects_skip_the_echoed_search_template() -> None:
    body = """<response version="1.0"><header/>
      <search pagesize="20" page="0" total="1" more="false">
        <object><SmartPad><Note/></SmartPad></object>
        <SmartPad id="SmartPad.7.9"><Note>n</Note></SmartPad>
      </search><_status>OK</_status></response>"""

    [pad] = read_answer(answer(body)).objects("search", "SmartPad")

    assert pad.get("id") == "SmartPad.7.9"


def test_objects_inside_an_array_wrapper_are_found() -> None:
    body = """<response version="1.0"><header/><search total="2" more="false">
      <SmartPads _type="objs"><SmartPad id="SmartPad.1.1"/><SmartPad id="SmartPad.1.2"/>
      </SmartPads></search></response>"""

    pads = read_answer(answer(body)).objects("search", "SmartPad")

    assert [pad.get("id") for pad in pads] == ["SmartPad.1.1", "SmartPad.1.2"]


def test_a_method_result_is_read() -> None:
    body = """<response version="1.0"><header/>
      <method><GetSystemTime>2026-03-02T14:05:09</GetSystemTime></method></response>"""

    assert read_answer(answer(body)).method_result("GetSystemTime") == "2026-03-02T14:05:09"


def test_error_for_code_keeps_its_arguments() -> None:
    error = error_for_code("2003", "Session expired.", status=200, retry_after=4.0)

    assert isinstance(error, RetryableError)
    assert error.retry_after == 4.0
    assert str(error) == "crm: SmartOffice error 2003: Session expired. (HTTP 200)"
