"""ID card wire protocol: golden frames from devices.md, SW3 table, deframer, fuzzing."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.errors import DeviceError, DeviceRefused, ProtocolError
from devices.idcard import protocol as p

GOLDEN_COMMANDS = {
    p.Command.FIND_CARD: "AAAAAA96690003200122",
    p.Command.SELECT_CARD: "AAAAAA96690003200221",
    p.Command.READ_TEXT_PHOTO: "AAAAAA96690003300132",
    p.Command.SAM_ID: "AAAAAA9669000312FFEE",
}
GOLDEN_REPLIES = {
    "AAAAAA9669000400008084": (p.Sw3.NO_CARD, b""),
    "AAAAAA9669000800009F0000000097": (p.Sw3.CARD_FOUND, b"\x00\x00\x00\x00"),
    "AAAAAA9669000400008185": (p.Sw3.SELECT_FAILED, b""),
    "AAAAAA9669000400004145": (p.Sw3.READ_FAILED, b""),
}


@pytest.mark.parametrize(("command", "golden"), GOLDEN_COMMANDS.items())
def test_command_frames_match_devices_md(command: p.Command, golden: str) -> None:
    assert p.build_command(command).hex().upper() == golden
    parsed = p.parse_command(bytes.fromhex(golden))
    assert parsed.command is command


@pytest.mark.parametrize(("golden", "expected"), GOLDEN_REPLIES.items())
def test_golden_replies_parse(golden: str, expected: tuple[p.Sw3, bytes]) -> None:
    reply = p.parse_response(bytes.fromhex(golden))
    assert (reply.status, reply.data) == expected
    assert p.build_response(expected[0], expected[1]).hex().upper() == golden


def test_ok_and_refused_statuses() -> None:
    assert p.parse_response(bytes.fromhex("AAAAAA9669000800009F0000000097")).ok
    reply = p.parse_response(bytes.fromhex("AAAAAA9669000400008185"))
    assert not reply.ok
    with pytest.raises(DeviceRefused, match="selecting the card failed"):
        reply.raise_for_status("select card")


def test_every_sw3_has_chinese_and_english_words() -> None:
    codes = {
        0x90,
        0x91,
        0x9F,
        0x10,
        0x11,
        0x21,
        0x23,
        0x24,
        0x31,
        0x32,
        0x33,
        0x40,
        0x41,
        0x47,
        0x60,
        0x66,
        0x80,
        0x81,
    }
    assert {s.value for s in p.Sw3} == codes
    for s in p.Sw3:
        zh, en = p.sw3_words(s)
        assert any("\u4e00" <= ch <= "\u9fff" for ch in zh), s
        assert en and en.isascii(), s
    assert p.sw3_words(0x55) == ("未知状态 0x55", "unknown status 0x55")
    assert p.Sw3.NO_CARD.en == "no card on the reader"


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        ("AAAAAA9669000400008085", "checksum"),
        ("BBAAAA9669000400008084", "AA AA AA 96 69"),
        ("AAAAAA9669000500008084", "LEN says"),
        ("AAAAAA96", "too short"),
        ("AAAAAA966900030001", "without SW1"),
    ],
)
def test_bad_frames_raise_protocol_error(frame: str, message: str) -> None:
    raw = bytes.fromhex(frame)
    if message == "without SW1":
        raw = p.build_raw_command(0x00, 0x01)  # a valid frame with only 2 body bytes
    with pytest.raises(ProtocolError, match=message):
        p.parse_response(raw)


def test_parser_handles_byte_by_byte_and_resyncs_on_garbage() -> None:
    a = bytes.fromhex("AAAAAA9669000400008084")
    b = bytes.fromhex("AAAAAA9669000800009F0000000097")
    # garbage includes a fake header with an impossible LEN and a preamble prefix
    stream = b"\x00\xff\xaa\xaa" + a + b"\xaa\xaa\xaa\x96\x69\xff\xff" + b"junk\xaa" + b
    parser = p.FrameParser()
    out: list[bytes | ProtocolError] = []
    for i in range(len(stream)):
        out.extend(parser.feed(stream[i : i + 1]))
    assert out == [a, b]
    assert parser.skipped > 0


def test_parser_reports_bad_checksum_then_finds_next_frame() -> None:
    bad = bytes.fromhex("AAAAAA9669000400008085")
    good = bytes.fromhex("AAAAAA9669000400004145")
    out = p.FrameParser().feed(bad + good)
    assert isinstance(out[0], ProtocolError)
    assert out[-1] == good


def test_card_data_round_trip_and_lengths() -> None:
    text, photo, fp = bytes(range(256)), bytes(1024), b"\x01" * 1024
    assert p.parse_card_data(p.build_card_data(text, photo)) == p.CardData(text, photo)
    with_fp = p.parse_card_data(p.build_card_data(text, photo, fp), with_fingerprint=True)
    assert with_fp.fingerprint == fp
    reply = p.build_response(p.Sw3.SUCCESS, p.build_card_data(text, photo))
    assert len(reply) == 1295 and reply[5:7] == b"\x05\x08"  # devices.md
    reply_fp = p.build_response(p.Sw3.SUCCESS, p.build_card_data(text, photo, fp))
    assert reply_fp[5:7] == b"\x09\x0a"
    with pytest.raises(ProtocolError):
        p.parse_card_data(p.build_card_data(text, photo)[:-1])
    assert "bytes" in repr(with_fp) and "\\x01" not in repr(with_fp)


def test_sam_id_round_trip() -> None:
    sam = "05.01-20101010-0003579263-1112034520"
    assert p.parse_sam_id(p.build_sam_id(sam)) == sam
    with pytest.raises(ProtocolError):
        p.parse_sam_id(b"\x00" * 15)


def test_redact_frame_hides_read_payload() -> None:
    text = "张晓明".encode("utf-16-le").ljust(256, b" ")
    frame = p.build_response(p.Sw3.SUCCESS, p.build_card_data(text, bytes(1024)))
    shown = p.redact_frame(frame)
    assert "redacted" in shown and "20 5F" not in shown  # 张 = U+5F20
    assert (
        p.redact_frame(bytes.fromhex("AAAAAA9669000400008084"))
        == "AA AA AA 96 69 00 04 00 00 80 84"
    )


@pytest.mark.parametrize("address", ["新址1号", "A栋302", "测试路9号新址"])
def test_redact_frame_hides_a_short_appended_address(address: str) -> None:
    """A reader that sends the appended address unpadded gives a reply of ≤ 16 data
    bytes: it is personal data all the same and must not reach a log."""
    data = address.encode("utf-16-le")
    assert len(data) <= 16
    frame = p.build_response(p.Sw3.SUCCESS, data)
    shown = p.redact_frame(frame)
    assert data.hex(" ").upper() not in shown
    assert shown == (
        f"AA AA AA 96 69 {frame[5]:02X} {frame[6]:02X} 00 00 90"
        f" <{len(data)} data bytes redacted> {frame[-1]:02X}"
    )


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=1, max_size=40), st.integers(min_value=0, max_value=255))
def test_redact_frame_never_shows_a_data_byte(data: bytes, sw3: int) -> None:
    frame = p.build_response(sw3, data)
    shown = p.redact_frame(frame)
    head = p.hex_bytes(frame[: p.HEADER_LEN + 3])
    assert shown == f"{head} <{len(data)} data bytes redacted> {frame[-1]:02X}"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_fuzz_frame_parsers_raise_only_device_errors(data: bytes) -> None:
    for parse in (p.parse_response, p.parse_command, p.parse_card_data, p.parse_sam_id):
        with contextlib.suppress(DeviceError):
            parse(data)
    # a valid preamble + length with random tail as well
    framed = p.PREAMBLE + len(data).to_bytes(2, "big") + data
    with contextlib.suppress(DeviceError):
        p.parse_response(framed)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=40), max_size=8))
def test_fuzz_stream_parser_yields_only_valid_frames(chunks: list[bytes]) -> None:
    parser = p.FrameParser()
    for chunk in chunks:
        for item in parser.feed(chunk):
            if isinstance(item, bytes):
                p.parse_command(item)  # checksum and length hold: must not raise
            else:
                assert isinstance(item, ProtocolError)


no_aa = st.binary(max_size=50).map(lambda b: b.replace(b"\xaa", b"\x00"))


@settings(max_examples=200, deadline=None)
@given(no_aa, no_aa, st.integers(min_value=1, max_value=30), st.sampled_from(list(GOLDEN_REPLIES)))
def test_fuzz_stream_parser_resyncs_after_garbage(
    before: bytes, after: bytes, split: int, golden: str
) -> None:
    frame = bytes.fromhex(golden)
    stream = before + frame + after + frame
    parser = p.FrameParser()
    frames = []
    for i in range(0, len(stream), split):
        frames.extend(x for x in parser.feed(stream[i : i + split]) if isinstance(x, bytes))
    assert frames == [frame, frame]
