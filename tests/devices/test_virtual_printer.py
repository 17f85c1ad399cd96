"""The virtual printer reads receipts back from ESC/POS bytes."""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from devices.errors import DeviceError
from devices.printer import escpos_parser as ep
from devices.printer import virtual
from devices.printer.layouts import (
    LayoutOptions,
    NoticeMaterial,
    NoticeReceipt,
    TicketReceipt,
    notice_bytes,
    ticket_bytes,
)
from devices.printer.virtual import Receipt, VirtualPrinter

WHEN = datetime(2024, 5, 1, 9, 30, 5)
TICKET = TicketReceipt(
    hall_name="XX市政务服务中心",
    queue_name="社保业务",
    ticket_number="A001",
    people_ahead=3,
    issued_at=WHEN,
    expected_wait_min=15,
    window_hint="请到 3 号窗口办理，谢谢！",
    status_url="https://hall.example/q?t=A001&d=20240501",
    masked_name="张*三",
    footer="",
)


def test_reads_ticket_back() -> None:
    v = VirtualPrinter()
    assert v.feed(ticket_bytes(TICKET)) == b""
    [receipt] = v.receipts
    assert receipt.text_lines == [
        "XX市政务服务中心",
        "社保业务",
        "A001",
        "前面还有 3 人等候",
        "预计等候约 15 分钟",
        "请到 3 号窗口办理，谢谢！",
        "姓名：张*三",
        "扫码查看排队进度",
        "取号时间：2024-05-01 09:30:05",
    ]
    assert receipt.qr_codes == ["https://hall.example/q?t=A001&d=20240501"]
    assert receipt.cut == "partial"
    number = next(line for line in receipt.lines if line.text == "A001")
    assert (number.width, number.height, number.bold, number.align) == (4, 4, True, "center")


def test_reads_notice_back_with_kanji_mode() -> None:
    notice = NoticeReceipt(
        "市民中心",
        "居住证办理",
        WHEN,
        materials=(NoticeMaterial("照片", "may_be_missing", "近期一寸"),),
        guide_url="指南：https://g.example/1",
    )
    v = VirtualPrinter(requires_kanji_mode=True)
    v.feed(notice_bytes(notice, LayoutOptions(kanji_mode=True, cut="full")))
    [receipt] = v.receipts
    assert "1. 照片【容缺】" in receipt.text_lines
    assert "   近期一寸" in receipt.text_lines
    assert receipt.qr_codes == ["指南：https://g.example/1"]
    assert receipt.cut == "full"


def test_without_kanji_mode_a_kanji_printer_prints_garbage() -> None:
    v = VirtualPrinter(requires_kanji_mode=True)
    v.feed(ticket_bytes(TICKET))
    assert "XX市政务服务中心" not in v.receipts[0].text_lines


def test_no_receipt_before_cut_and_split_chunks() -> None:
    data = ticket_bytes(TICKET)
    v = VirtualPrinter()
    for i in range(0, len(data) - 1, 7):
        v.feed(data[i : min(i + 7, len(data) - 1)])
    assert v.receipts == []
    v.feed(data[-1:])
    assert v.receipts[0].text_lines[2] == "A001"


def test_status_replies_follow_simulated_paper() -> None:
    v = VirtualPrinter()
    assert v.feed(b"\x10\x04\x04") == b"\x12"
    v.paper = "near_end"
    assert v.feed(b"\x10\x04\x04") == b"\x1e"
    v.paper = "out"
    assert v.feed(b"\x10\x04\x01\x10\x04\x04") == b"\x1a\x7e"
    v.silent = True
    assert v.feed(b"\x10\x04\x01") == b""


def test_receipt_printed_without_paper_is_lost_and_not_rendered(tmp_path: Path) -> None:
    v = VirtualPrinter(preview_dir=tmp_path, paper="out")
    v.feed(ticket_bytes(TICKET))
    assert v.wait_for_previews(10)
    assert v.receipts[0].lost and v.receipts[0].preview is None
    assert list(tmp_path.iterdir()) == []


def test_preview_png(tmp_path: Path) -> None:
    v = VirtualPrinter(preview_dir=tmp_path)
    v.feed(ticket_bytes(TICKET) + ticket_bytes(TICKET))
    assert v.wait_for_previews(10)
    assert [r.preview for r in v.receipts] == [
        tmp_path / "receipt-0001.png",
        tmp_path / "receipt-0002.png",
    ]
    with Image.open(tmp_path / "receipt-0001.png") as img:
        assert img.width == 384
        assert img.height > 500
        assert img.convert("L").getextrema() == (0, 255)  # something black was drawn


def test_status_is_answered_while_a_preview_renders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rendering happens off the feeding thread: a DLE EOT after the cut is answered while
    the preview is still being drawn (held here until the test releases it)."""
    real_render = virtual.render_receipt
    rendering = threading.Event()
    release = threading.Event()
    feeder = threading.current_thread()
    render_threads: list[threading.Thread] = []

    def held_render(receipt: Receipt, width_chars: int = 32) -> Image.Image:
        render_threads.append(threading.current_thread())
        rendering.set()
        release.wait(10)
        return real_render(receipt, width_chars)

    monkeypatch.setattr(virtual, "render_receipt", held_render)
    v = VirtualPrinter(preview_dir=tmp_path)
    try:
        assert v.feed(ticket_bytes(TICKET) + b"\x10\x04\x04") == b"\x12"
        assert len(v.receipts) == 1  # the receipt is there at once, its preview comes later
        assert rendering.wait(10)
        assert v.feed(b"\x10\x04\x01") == b"\x12"  # answered while the preview renders
        assert v.receipts[0].preview is None
        assert render_threads and render_threads[0] is not feeder
    finally:
        release.set()
    assert v.wait_for_previews(10)
    assert v.receipts[0].preview == tmp_path / "receipt-0001.png"
    assert v.receipts[0].preview.is_file()


def test_parser_skips_arguments_of_unmodelled_commands() -> None:
    data = b"\x1b@\x1bt\x0fA\x1d(L\x03\x000pqB\x1bp\x00\x19\xfaC\x10\x14\x01\x00\x05D\n"
    events = ep.EscPosParser().feed(data)
    text = b"".join(e.data for e in events if isinstance(e, ep.TextBytes))
    assert text == b"ABCD"


def test_parser_raster_image() -> None:
    events = ep.EscPosParser().feed(b"\x1dv0\x00\x01\x00\x02\x00\xff\x00")
    assert events == [ep.Raster(1, 2, b"\xff\x00")]


def _merge(events: list[ep.Event]) -> list[ep.Event]:
    merged: list[ep.Event] = []
    for e in events:
        if isinstance(e, ep.TextBytes) and merged and isinstance(merged[-1], ep.TextBytes):
            merged[-1] = ep.TextBytes(merged[-1].data + e.data)
        else:
            merged.append(e)
    return merged


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.lists(st.integers(1, 40), max_size=20))
def test_parser_fuzz_chunking_does_not_matter(data: bytes, cuts: list[int]) -> None:
    whole = ep.EscPosParser()
    try:
        expected = _merge(whole.feed(data))
    except DeviceError:
        return
    chunked = ep.EscPosParser()
    got: list[ep.Event] = []
    pos = 0
    for size in [*cuts, len(data)]:
        got += chunked.feed(data[pos : pos + size])
        pos += size
    assert _merge(got) == expected
    assert chunked.pending == whole.pending


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                b"\x1b",
                b"\x1d",
                b"\x1c",
                b"\x10",
                b"\x04",
                b"\n",
                b"(k",
                b"V",
                b"!",
                b"v0",
                b"8L",
                b"\x00",
                b"\xff",
                b"\x01",
                b"abc",
                "中".encode("gb18030"),
                b"\x1b@",
                b"\x1dV\x01",
                b"\x10\x04\x04",
            ]
        ),
        max_size=60,
    )
)
def test_virtual_printer_fuzz(chunks: list[bytes]) -> None:
    v = VirtualPrinter()
    for chunk in chunks:
        try:
            reply = v.feed(chunk)
        except DeviceError:
            continue
        assert all(b & 0x93 == 0x12 for b in reply)
    for receipt in v.receipts:
        assert receipt.cut in ("full", "partial")


def test_raster_image_from_python_escpos_is_read_back_and_rendered(tmp_path: Path) -> None:
    """``GS v 0`` raster bytes (python-escpos ``image()``) become an image on the receipt."""
    from devices.printer.virtual import PrintedImage, VirtualEscpos

    picture = Image.new("1", (16, 4), 1)  # white
    for x in range(8):
        picture.putpixel((x, 0), 0)  # black bar, top left
    picture.putpixel((15, 3), 0)  # one black dot, bottom right
    virtual = VirtualPrinter(preview_dir=tmp_path)
    printer = VirtualEscpos(virtual)
    printer.text("LOGO\n")
    printer.image(picture, impl="bitImageRaster", center=False)
    printer.cut()
    assert virtual.wait_for_previews(10)
    [receipt] = virtual.receipts
    [image] = [i for i in receipt.items if isinstance(i, PrintedImage)]
    assert (image.width_bytes, image.height) == (2, 4)
    assert image.data == b"\xff\x00" + b"\x00\x00" * 2 + b"\x00\x01"
    assert receipt.text_lines == ["LOGO"]
    # the preview draws raster 1-bits black: find the image below the text line
    assert receipt.preview is not None
    with Image.open(receipt.preview) as png:
        page = png.convert("L")
    rows = [y for y in range(page.height) if page.getpixel((0, y)) == 0]
    assert rows, "the raster bar is missing from the preview"
    top = rows[0]
    assert all(page.getpixel((x, top)) == 0 for x in range(8))
    assert page.getpixel((8, top)) == 255
    assert page.getpixel((15, top + 3)) == 0 and page.getpixel((14, top + 3)) == 255
