"""Pure decoding of DLE EOT status replies."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.errors import DeviceError
from devices.printer.status import (
    UNKNOWN,
    assess,
    decode_status,
    encode_status,
    is_valid_status_byte,
    status_request,
)
from devices.state import DeviceState

ALL_OK = {1: b"\x12", 2: b"\x12", 3: b"\x12", 4: b"\x12"}


def test_status_request_bytes() -> None:
    assert status_request(1) == b"\x10\x04\x01"
    assert status_request(4) == b"\x10\x04\x04"
    with pytest.raises(ValueError):
        status_request(5)


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        (0x12, True),
        (0x16, True),
        (0x7E, True),
        (0x13, False),
        (0x92, False),
        (0x10, False),
        (0x02, False),
        (0x00, False),
    ],
)
def test_fixed_bits_are_checked(value: int, valid: bool) -> None:
    assert is_valid_status_byte(value) is valid


def test_all_clear_is_ready() -> None:
    status = decode_status(ALL_OK)
    assert status.known and status.complete
    assert status.online is True
    assert status.paper_out is False and status.paper_near_end is False
    assert status.cover_open is False and status.cutter_error is False
    assert assess(status).state is DeviceState.READY


@pytest.mark.parametrize(
    ("replies", "field", "state", "words", "can_print"),
    [
        ({4: b"\x1e"}, "paper_near_end", DeviceState.DEGRADED, "paper near end", True),
        ({4: b"\x72"}, "paper_out", DeviceState.FAULT, "paper out", False),
        ({1: b"\x1a", 2: b"\x16"}, "cover_open", DeviceState.FAULT, "cover open", False),
        ({3: b"\x1a"}, "cutter_error", DeviceState.FAULT, "cutter", False),
        ({3: b"\x32"}, "unrecoverable", DeviceState.FAULT, "unrecoverable", False),
        ({3: b"\x52"}, "auto_recoverable", DeviceState.DEGRADED, "recover", True),
        ({1: b"\x1a"}, "online", DeviceState.FAULT, "offline", False),
        ({2: b"\x32"}, "paper_out", DeviceState.FAULT, "paper out", False),
    ],
)
def test_conditions(
    replies: dict[int, bytes], field: str, state: DeviceState, words: str, can_print: bool
) -> None:
    status = decode_status({**ALL_OK, **replies})
    expected = field != "online"  # online is False when the offline bit is set
    assert getattr(status, field) is expected
    assessment = assess(status)
    assert assessment.state is state
    assert words in assessment.reason
    assert assessment.can_print is can_print


def test_no_reply_is_unknown_never_paper_ok() -> None:
    status = decode_status({})
    assert not status.known and not UNKNOWN.known
    assert dataclasses.replace(status, raw={}) == UNKNOWN
    assert status.paper_out is None and status.paper_near_end is None
    assessment = assess(status)
    assert assessment.state is DeviceState.ABSENT
    assert "does not answer" in assessment.reason


@pytest.mark.parametrize("bad", [b"", b"\x00", b"\xff", b"\x12\x12", b"\x92", b"\x13"])
def test_invalid_paper_reply_is_unknown(bad: bytes) -> None:
    status = decode_status({**ALL_OK, 4: bad})
    assert status.paper_out is None and status.paper_near_end is None
    assert status.raw[4] is None
    assessment = assess(status)
    assert assessment.state is DeviceState.DEGRADED
    assert "unknown" in assessment.reason


@pytest.mark.parametrize(
    "flags",
    [
        {},
        {"paper_near_end": True},
        {"paper_out": True},
        {"cover_open": True},
        {"cutter_error": True},
        {"unrecoverable": True},
        {"offline": True},
    ],
)
def test_encode_decode_round_trip(flags: dict[str, bool]) -> None:
    status = decode_status({n: encode_status(n, **flags) for n in (1, 2, 3, 4)})
    assert status.complete
    for name in ("paper_near_end", "paper_out", "cover_open", "cutter_error", "unrecoverable"):
        assert getattr(status, name) is flags.get(name, False) or (
            name == "paper_near_end" and flags.get("paper_out")
        )
    assert status.online is not (
        flags.get("offline") or flags.get("cover_open") or flags.get("paper_out", False)
    )


@given(st.dictionaries(st.integers(-3, 300), st.one_of(st.none(), st.binary(max_size=4))))
def test_decoder_fuzz(replies: dict[int, bytes | None]) -> None:
    try:
        status = decode_status(replies)
    except DeviceError:
        return
    for n, value in status.raw.items():
        reply = replies.get(n)
        if value is not None:
            assert reply == bytes([value]) and is_valid_status_byte(value)
    if status.raw.get(4) is None:
        assert status.paper_near_end is None
    assessment = assess(status)
    if not status.known:
        assert assessment.state is not DeviceState.READY
