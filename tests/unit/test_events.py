"""The clickstream contract v1: what is accepted, how it is normalised, what is not."""

import orjson
import pytest

from streams.errors import InvalidEvent
from streams.events import derive_event_id, parse_event, parse_event_ts

INSTANT_MS = 1_511_658_000_000  # 2017-11-26T01:00:00Z


def event(**fields):
    base = {"user_id": "u1", "event_type": "view", "event_ts": INSTANT_MS}
    base.update(fields)
    return orjson.dumps(base)


def reason_of(raw: bytes) -> str:
    with pytest.raises(InvalidEvent) as info:
        parse_event(raw)
    return info.value.reason


@pytest.mark.parametrize(
    "value",
    [
        INSTANT_MS,
        INSTANT_MS // 1000,
        float(INSTANT_MS // 1000),
        str(INSTANT_MS),
        "2017-11-26T01:00:00Z",
        "2017-11-26T01:00:00+00:00",
        "2017-11-26T09:00:00+08:00",
        "2017-11-26 01:00:00.000Z",
    ],
)
def test_every_accepted_timestamp_form_gives_the_same_instant(value):
    assert parse_event_ts(value) == INSTANT_MS


def test_fractional_seconds_keep_their_milliseconds():
    assert parse_event_ts(1_511_658_000.25) == INSTANT_MS + 250


@pytest.mark.parametrize(
    "value",
    [
        "2017-11-26T01:00:00",  # no zone: ambiguous
        "2017-11-26",  # a date has no zone either
        1e11,  # year 1973 in ms, year 5138 in s: neither plausible
        1_511_658_000_000_000,  # microseconds
        12,
        -5,
        True,
        "yesterday",
        "",
        [1, 2],
        float("nan"),
    ],
)
def test_implausible_or_ambiguous_timestamps_are_rejected(value):
    with pytest.raises(InvalidEvent) as info:
        parse_event_ts(value)
    assert info.value.reason == "invalid_timestamp"


def test_normalised_event_has_every_field_and_string_ids():
    parsed = parse_event(
        event(user_id=42, item_id=7, category_id="c", price=3, quantity=2)
    )
    assert parsed == {
        "event_id": parsed["event_id"],
        "user_id": "42",
        "event_type": "view",
        "event_ts_ms": INSTANT_MS,
        "item_id": "7",
        "category_id": "c",
        "price": 3.0,
        "quantity": 2,
        "session_id": None,
        "order_id": None,
    }
    assert parsed["event_id"].startswith("d-")


def test_derived_id_is_stable_across_timestamp_units():
    in_s = parse_event(event(event_ts=INSTANT_MS // 1000))
    in_ms = parse_event(event(event_ts=INSTANT_MS))
    in_iso = parse_event(event(event_ts="2017-11-26T01:00:00Z"))
    assert in_s["event_id"] == in_ms["event_id"] == in_iso["event_id"]
    assert in_s["event_id"] == derive_event_id(in_s)


def test_derived_id_differs_when_any_field_differs():
    a = parse_event(event(item_id="a"))
    b = parse_event(event(item_id="b"))
    assert a["event_id"] != b["event_id"]


def test_given_event_id_is_kept():
    assert parse_event(event(event_id="e-1"))["event_id"] == "e-1"


def test_unknown_fields_are_ignored_for_forward_compatibility():
    assert parse_event(event(brand="x"))["user_id"] == "u1"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\xff\xfe{}", "invalid_encoding"),
        (b"{not json", "invalid_json"),
        (b"", "empty_message"),
        (event(event_type=["view"]), "invalid_field"),
        (event(price=1e308), "invalid_field"),
        (event(quantity=10**9), "invalid_field"),
        (b"[1,2]", "not_an_object"),
        (b'"text"', "not_an_object"),
        (orjson.dumps({"event_type": "view", "event_ts": INSTANT_MS}), "missing_field"),
        (event(user_id=""), "invalid_field"),
        (event(user_id=True), "invalid_field"),
        (event(user_id={"a": 1}), "invalid_field"),
        (event(user_id="x" * 300), "invalid_field"),
        (event(event_type="click"), "unknown_event_type"),
        (orjson.dumps({"user_id": "u", "event_type": "view"}), "missing_field"),
        (event(price="abc"), "invalid_field"),
        (event(price="12.5"), "invalid_field"),
        (event(price=-1), "invalid_field"),
        (event(quantity=0), "invalid_field"),
        (event(quantity=1.5), "invalid_field"),
        (event(event_ts="2017-11-26T01:00:00"), "invalid_timestamp"),
    ],
)
def test_bad_input_is_rejected_with_a_reason(raw, reason):
    assert reason_of(raw) == reason


def test_rejection_detail_names_the_field():
    with pytest.raises(InvalidEvent) as info:
        parse_event(event(price="abc"))
    assert "price" in info.value.detail


def _detail(raw: bytes) -> tuple[str, str]:
    with pytest.raises(InvalidEvent) as info:
        parse_event(raw)
    return info.value.reason, info.value.detail


def _with_number(field: str, digits: str) -> bytes:
    return (
        b'{"user_id": "u1", "event_type": "view", "event_ts": 1700000000000, "'
        + field.encode() + b'": ' + digits.encode() + b"}"
    )


def test_huge_numbers_get_the_field_s_own_error_in_a_short_text():
    # Valid JSON that orjson cannot read (beyond a double) is read again.
    reason, detail = _detail(_with_number("user_id", "9" * 400))
    assert (reason, detail) == ("invalid_field", "user_id is longer than 256 digits")
    reason, detail = _detail(_with_number("event_ts", "9" * 400))
    assert reason == "invalid_timestamp"
    assert "(400 digits)" in detail and len(detail) < 120
    # 10**30 is read as a float: shown as one, not as its binary expansion.
    reason, detail = _detail(_with_number("quantity", "1" + "0" * 30))
    assert detail == "quantity=1e+30 must be between 1 and 1000000"
    reason, detail = _detail(_with_number("user_id", "1" * 23))
    assert reason == "invalid_field" and "send such ids as strings" in detail
    reason, detail = _detail(_with_number("price", "9" * 5000))
    assert (reason, detail) == (
        "invalid_json", "value holds a number of over 4,300 digits"
    )
    assert parse_event(_with_number("quantity", "3.0"))["quantity"] == 3


def test_a_huge_integer_price_and_deep_nesting_are_bad_input_not_our_bug():
    reason, detail = _detail(_with_number("price", "1" + "0" * 400))
    assert (reason, detail[:6]) == ("invalid_field", "price=")
    for deep in (b"[" * 200_000 + b"]" * 200_000, b'{"a":' * 5000 + b"1" + b"}" * 5000):
        reason, detail = _detail(deep)
        assert reason == "invalid_json" and "depth" in detail


def test_a_5000_digit_time_and_a_nan_price_say_what_they_are():
    raw = b'{"user_id": "u1", "event_type": "view", "event_ts": '
    reason, detail = _detail(raw + b'"' + b"1" * 5000 + b'"}')
    assert reason == "invalid_timestamp"
    assert "(5000 characters) is neither epoch seconds" in detail
    assert len(detail) < 160
    raw = b'{"user_id": "u1", "event_type": "view", "event_ts": 1700000000, '
    reason, detail = _detail(raw + b'"price": NaN}')
    assert (reason, detail) == ("invalid_field", "price=nan is not a finite number")
