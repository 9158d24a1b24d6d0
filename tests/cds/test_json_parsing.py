"""The request parser's fast path (orjson) gives exactly the value the standard library gives, or
the same refusal (cds_service/jsontext.py ``loads``; CDS Hooks 2.0 §Calling a CDS Service:
the body is JSON; standards.md §8.15: malformed input is a clear 400, never a 500). Draft orders are
echoed back in the order-sign update action, so a changed number would change the order (CC-46)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cds_service.hooks.request import InvalidRequest, parse_json
from cds_service.http_errors import status_of
from cds_service.jsontext import loads as _loads

SCALARS = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True)
           | st.text(max_size=20) | st.sampled_from(["\U0001F600", "é", "\\", '"', "\u2028"]))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(max_size=6), inner, max_size=4), max_leaves=30)


def _same(raw: bytes) -> None:
    try:
        expected = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        with pytest.raises(type(exc) if not isinstance(exc, ValueError) else ValueError):
            _loads(raw)
        return
    # json.dumps tells 1 from 1.0 and keeps key order; NaN is spelled the same on both sides
    assert json.dumps(_loads(raw)) == json.dumps(expected), raw[:120]


@settings(max_examples=400, deadline=None)
@given(VALUES, st.booleans())
def test_same_value_as_the_standard_library(value: object, ascii_only: bool) -> None:
    _same(json.dumps(value, ensure_ascii=ascii_only).encode())


@settings(max_examples=300, deadline=None)
@given(VALUES, st.integers(min_value=0, max_value=40), st.binary(min_size=1, max_size=3))
def test_same_value_or_same_refusal_for_damaged_text(value: object, at: int, junk: bytes) -> None:
    raw = json.dumps(value).encode()
    _same(raw[:at] + junk + raw[at:])


@pytest.mark.parametrize("raw", [
    b"[18446744073709551616]", b"[-9223372036854775809]", b"[123456789012345678901234567890]",
    b'{"valueInteger": 99999999999999999999}', b"[NaN, Infinity, -Infinity]", b"[1e999]",
    b'"\\ud800"', b'["\\ud83d\\ude00"]', b"\xef\xbb\xbf{}", '{"a": 1}'.encode("utf-16"),
    b'{"a": 1, "a": 2, "b": 3}', b"[-0, 0.0, -0.0, 1E2, 1.5e-400]", b"[" * 1100 + b"]" * 1100,
    b"{\"a\": \"\x01\"}", b"[01]", b"[1,]", b"\xff",
])
def test_edge_cases(raw: bytes) -> None:
    _same(raw)


def test_integers_beyond_64_bits_are_kept_exact_in_a_hook_body() -> None:
    body = parse_json(b'{"context": {"n": 123456789012345678901234567890}}')
    assert body["context"]["n"] == 123456789012345678901234567890


def test_unparsable_body_is_a_400() -> None:
    with pytest.raises(InvalidRequest) as err:
        parse_json(b'{"hook": ')
    assert status_of(err.value) == 400


@pytest.mark.parametrize("raw", [b'{"a": "\xed\xa0\x80"}', b'{"a": "\xed\xa0\xbd\xed\xb8\x80"}', b'{"a": "\\udc00"}'])
def test_surrogates_as_escapes_or_as_raw_bytes_are_a_400(raw: bytes) -> None:
    # A lone surrogate is not Unicode text; raw ED A0..BF bytes (CESU-8) are not UTF-8 either.
    with pytest.raises(InvalidRequest) as err:
        parse_json(raw)
    assert status_of(err.value) == 400 and "surrogate" in err.value.message


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
def test_a_lone_surrogate_escape_in_a_utf16_or_utf32_body_is_a_400(encoding: str) -> None:
    # RFC 8259 lets a body be UTF-16/32 (json.detect_encoding); the byte patterns above are UTF-8's.
    with pytest.raises(InvalidRequest) as err:
        parse_json('{"hookInstance": "\\ud800"}'.encode(encoding))
    assert status_of(err.value) == 400 and "surrogate" in err.value.message
    assert parse_json('{"a": "\\u00e9 text"}'.encode(encoding)) == {"a": "\u00e9 text"}


def test_hangul_just_below_the_surrogates_is_text() -> None:
    assert parse_json('{"a": "\ud7a3"}'.encode())["a"] == "\ud7a3"    # ED 9E A3 in UTF-8


@pytest.mark.parametrize("raw", [
    b'{"resourceType": "Observation", "valueQuantity": {"value": 123456789012345678901234567890}}',
    b'{"resourceType": "Observation", "valueQuantity": {"value": 1e999}}',
    b'{"resourceType": "Patient", "name": [{"text": "\\ud83d\\ude00 \\u00e9"}]}',
    b'{"resourceType": "Bundle", "entry": [], "entry": [{"resource": {"resourceType": "Condition"}}]}',
])
def test_fhir_answers_are_read_exactly_as_the_standard_library_reads_them(raw: bytes) -> None:
    """The EHR's answers take the same fast path as hook bodies (cds_service/fhir/client.py ``parse``):
    a number, a string or a repeated key comes out as ``json.loads`` gives it."""
    from cds_service.fhir.client import parse

    assert json.dumps(parse(raw)) == json.dumps(json.loads(raw))


def test_a_fhir_answer_that_is_not_json_is_a_failed_read() -> None:
    from cds_service.fhir.client import FhirError, parse

    for raw in (b"<html>502</html>", b'{"resourceType": "Patient",', b"\xff\xfe"):
        with pytest.raises(FhirError, match="not JSON"):
            parse(raw)
