"""Scanner framing, text decoding and trigger commands (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.scanner.protocol import (
    TRIGGERS,
    Deframer,
    Framing,
    ScanEvent,
    Source,
    decode_text,
    frame_code,
    make_event,
)


def test_trigger_commands_match_devices_md() -> None:
    assert TRIGGERS["honeywell"].start == bytes.fromhex("16540D")
    assert TRIGGERS["honeywell"].stop == bytes.fromhex("16550D")
    assert TRIGGERS["newland"].start == bytes.fromhex("1B31")
    assert TRIGGERS["newland"].stop == bytes.fromhex("1B30")


def test_suffix_any_line_end_split_across_chunks() -> None:
    d = Deframer()
    assert d.feed(b"ABC\r") == [b"ABC"]
    assert d.feed(b"\nDE") == []  # the LF of CR LF yields no empty code
    assert d.feed(b"F\n\r\nGHI\r\n") == [b"DEF", b"GHI"]


def test_custom_suffix() -> None:
    d = Deframer(Framing.SUFFIX, suffix=b"\t")
    assert d.feed(b"A\r\nB\tC") == [b"A\r\nB"]
    with pytest.raises(ValueError):
        Deframer(Framing.SUFFIX, suffix=b"")


def test_stx_etx_with_noise_and_restart() -> None:
    d = Deframer(Framing.STX_ETX)
    assert d.feed(b"noise\x02AB") == []
    assert d.feed(b"C\x03\r\n\x02lost\x02XY\x03") == [b"ABC", b"XY"]
    assert d.dropped == 1


def test_overlong_codes_are_dropped_and_stream_recovers() -> None:
    d = Deframer(max_len=8)
    assert d.feed(b"X" * 20) == []
    assert d.feed(b"\r\nOK\r\n") == [b"OK"]
    assert d.dropped == 1


@pytest.mark.parametrize(
    ("raw", "text", "encoding"),
    [
        ("请到3号窗口".encode(), "请到3号窗口", "utf-8"),
        ("请到3号窗口".encode("gb18030"), "请到3号窗口", "gb18030"),
        ("𠀀生僻字".encode("gb18030"), "𠀀生僻字", "gb18030"),  # 4-byte GB18030
        (b"A001", "A001", "utf-8"),
        (b"\xff\xff\xff", "\ufffd\ufffd\ufffd", None),
    ],
)
def test_decode_utf8_then_gb18030(raw: bytes, text: str, encoding: str | None) -> None:
    assert decode_text(raw) == (text, encoding)


def test_scan_event_repr_hides_the_code() -> None:
    event = make_event(b"11010519491231002X", Source.SERIAL)
    assert event.text == "11010519491231002X"
    assert "1101" not in repr(event) and "length=18" in repr(event)
    assert isinstance(event, ScanEvent) and event.at.tzinfo is not None


def test_frame_code() -> None:
    assert frame_code("中", encoding="gb18030") == b"\xd6\xd0\r\n"
    assert frame_code(b"A", framing=Framing.STX_ETX) == b"\x02A\x03"


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from([Framing.SUFFIX, Framing.STX_ETX]),
    st.lists(st.binary(max_size=30), max_size=10),
)
def test_fuzz_deframers_never_raise_and_emit_clean_codes(
    framing: Framing, chunks: list[bytes]
) -> None:
    d = Deframer(framing, max_len=64)
    for chunk in chunks:
        for code in d.feed(chunk):
            assert code and len(code) <= 64
            if framing is Framing.SUFFIX:
                assert b"\r" not in code and b"\n" not in code
            else:
                assert b"\x02" not in code and b"\x03" not in code
            decode_text(code)


@settings(max_examples=200, deadline=None)
@given(
    st.binary(max_size=40),
    st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=20),
    st.integers(1, 7),
)
def test_fuzz_stx_resyncs_after_garbage(garbage: bytes, code: str, split: int) -> None:
    framed = frame_code(code, framing=Framing.STX_ETX)
    stream = garbage.replace(b"\x02", b"") + b"\x03" + framed
    d = Deframer(Framing.STX_ETX)
    out = []
    for i in range(0, len(stream), split):
        out.extend(d.feed(stream[i : i + split]))
    assert out and out[-1] == code.encode()
