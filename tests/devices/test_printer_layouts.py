"""Exact ESC/POS bytes of the receipt layouts."""

from __future__ import annotations

from datetime import datetime

import pytest

from devices.printer.escpos_parser import EscPosParser
from devices.printer.layouts import (
    LayoutOptions,
    NoticeMaterial,
    NoticeReceipt,
    TestPageInfo,
    TicketReceipt,
    encode_text,
    notice_bytes,
    technician_page_bytes,
    text_columns,
    ticket_bytes,
    wrap_columns,
)
from devices.printer.virtual import PrintedLine, ReceiptBuilder

ESC, GS, FS, LF = b"\x1b", b"\x1d", b"\x1c", b"\n"
INIT = ESC + b"@"
CENTER, LEFT = ESC + b"a\x01", ESC + b"a\x00"
BOLD_ON, BOLD_OFF = ESC + b"E\x01", ESC + b"E\x00"
PARTIAL_CUT = ESC + b"d\x06" + GS + b"V\x01"
FULL_CUT = ESC + b"d\x06" + GS + b"V\x00"
WHEN = datetime(2024, 5, 1, 9, 30, 5)


def gb(text: str) -> bytes:
    return text.encode("gb18030")


def size(w: int, h: int) -> bytes:
    return GS + b"!" + bytes([(w - 1) << 4 | (h - 1)])


def qr(content: bytes, module: int = 6) -> bytes:
    def fn(f: bytes, data: bytes) -> bytes:
        return GS + b"(k" + bytes([len(data) + 2, 0]) + b"1" + f + data

    return (
        fn(b"A", b"2\x00")
        + fn(b"C", bytes([module]))
        + fn(b"E", b"1")
        + fn(b"P", b"0" + content)
        + fn(b"Q", b"0")
    )


def minimal_ticket(**kw: object) -> TicketReceipt:
    base: dict[str, object] = {
        "hall_name": "市民中心",
        "queue_name": "社保",
        "ticket_number": "A001",
        "people_ahead": 2,
        "issued_at": WHEN,
        "footer": "",
    }
    base.update(kw)
    return TicketReceipt(**base)  # type: ignore[arg-type]


def test_minimal_ticket_full_bytes() -> None:
    expected = (
        INIT
        + CENTER
        + BOLD_ON
        + gb("市民中心")
        + LF
        + BOLD_OFF
        + size(1, 2)
        + gb("社保")
        + LF
        + BOLD_ON
        + size(4, 4)
        + b"A001"
        + LF
        + BOLD_OFF
        + size(1, 1)
        + gb("前面还有 2 人等候")
        + LF
        + gb("取号时间：2024-05-01 09:30:05")
        + LF
        + LEFT
        + PARTIAL_CUT
    )
    assert ticket_bytes(minimal_ticket()) == expected


def test_ticket_key_parts() -> None:
    data = ticket_bytes(
        minimal_ticket(
            expected_wait_min=12,
            window_hint="请到 3 号窗口办理",
            masked_name="张*三",
            status_url="https://hall.example/q/A001",
            footer="过号请重新取号",
        ),
        LayoutOptions(qr_module_size=5, cut="full"),
    )
    assert data.startswith(INIT + CENTER + BOLD_ON + gb("市民中心") + LF)
    assert BOLD_ON + size(4, 4) + b"A001" + LF in data
    assert (
        gb("预计等候约 12 分钟") + LF + gb("请到 3 号窗口办理") + LF + gb("姓名：张*三") + LF
        in data
    )
    assert qr(b"https://hall.example/q/A001", 5) + LF + gb("扫码查看排队进度") + LF in data
    assert data.endswith(gb("过号请重新取号") + LF + LEFT + FULL_CUT)


def test_full_width_punctuation_is_gb18030_not_question_marks() -> None:
    data = ticket_bytes(minimal_ticket(window_hint="，。：（）《》"))
    assert b"\xa3\xac\xa1\xa3\xa3\xba\xa3\xa8\xa3\xa9\xa1\xb6\xa1\xb7" + LF in data
    assert b"?" not in data


def test_kanji_mode_wraps_chinese_only() -> None:
    data = ticket_bytes(minimal_ticket(), LayoutOptions(kanji_mode=True))
    assert FS + b"&" + gb("市民中心") + FS + b"." + LF in data
    assert size(4, 4) + b"A001" + LF in data  # ASCII stays unwrapped
    assert encode_text("abc", kanji_mode=True) == b"abc"


def test_control_characters_cannot_inject_commands() -> None:
    data = ticket_bytes(minimal_ticket(masked_name="张\x1dV\x00三"))
    assert gb("姓名：张 V 三") + LF in data
    assert data.count(GS + b"V") == 1


def test_gbk_encoding_replaces_unencodable() -> None:
    assert encode_text("㐀", "gbk") == b"?"
    assert encode_text("㐀", "gb18030") == "㐀".encode("gb18030")


def test_wrap_counts_chinese_as_two_columns() -> None:
    assert wrap_columns("一二三四五", 6) == ["一二三", "四五"]
    assert wrap_columns("ab一二三", 6, indent=" ") == ["ab一二", " 三"]
    assert wrap_columns("", 8) == [""]


def test_long_ticket_number_uses_smaller_size() -> None:
    data = ticket_bytes(minimal_ticket(ticket_number="VIP12345"), LayoutOptions(width_chars=24))
    assert BOLD_ON + size(3, 3) + b"VIP12345" + LF in data  # 8 columns × 3 = 24
    data = ticket_bytes(minimal_ticket(ticket_number="VIP12345"), LayoutOptions(width_chars=23))
    assert BOLD_ON + size(2, 2) + b"VIP12345" + LF in data


def test_notice_lists_every_material_with_mark() -> None:
    notice = NoticeReceipt(
        hall_name="市民中心",
        service_name="营业执照变更",
        issued_at=WHEN,
        conditions=("申请人为企业法定代表人",),
        materials=(
            NoticeMaterial("身份证", "required", "原件"),
            NoticeMaterial("章程修正案", "may_be_missing"),
            NoticeMaterial("住所证明", "commitment"),
        ),
        fees="不收费",
        legal_time_limit="15 个工作日",
        promised_time_limit="1 个工作日",
        where="一楼 A 区 5 号窗口",
    )
    data = notice_bytes(notice, LayoutOptions(width_chars=48))
    assert data.startswith(INIT + CENTER + BOLD_ON + size(1, 2) + gb("一次性告知单") + LF)
    assert LEFT + b"-" * 48 + LF + BOLD_ON + gb("事项：营业执照变更") + LF in data
    assert gb("1. 身份证【必需】") + LF + gb("   原件") + LF in data
    assert gb("2. 章程修正案【容缺】") + LF in data
    assert gb("3. 住所证明【可告知承诺】") + LF in data
    assert gb("法定时限：15 个工作日") + LF + gb("承诺时限：1 个工作日") + LF in data
    assert BOLD_ON + gb("五、办理地点") + LF + BOLD_OFF + gb("一楼 A 区 5 号窗口") + LF in data
    assert data.endswith(PARTIAL_CUT)


def test_test_page_has_charset_qr_and_status() -> None:
    info = TestPageInfo(
        software_version="9.9", printed_at=WHEN, status_lines=("状态：ready",), qr_content="T1"
    )
    data = technician_page_bytes(info)
    assert gb("软件版本：9.9") + LF in data
    assert gb("状态：ready") + LF in data
    assert gb("，。、；：？！“”‘’（）《》") + LF in data
    assert qr(b"T1") in data
    assert data.endswith(PARTIAL_CUT)


@pytest.mark.parametrize("mark", ["required", "may_be_missing", "commitment"])
def test_each_mark_label(mark: str) -> None:
    labels = {"required": "必需", "may_be_missing": "容缺", "commitment": "可告知承诺"}
    notice = NoticeReceipt("h", "s", WHEN, materials=(NoticeMaterial("X", mark),))  # type: ignore[arg-type]
    assert gb(f"1. X【{labels[mark]}】") + LF in notice_bytes(notice)


def _printed_lines(data: bytes) -> list[PrintedLine]:
    """The receipt as the printer would print it, read back with our ESC/POS parser."""
    builder = ReceiptBuilder()
    receipts = [r for e in EscPosParser().feed(data) if (r := builder.apply(e)) is not None]
    [receipt] = receipts
    return receipt.lines


@pytest.mark.parametrize("width", [32, 48])  # 58 mm and 80 mm paper
@pytest.mark.parametrize("number", ["A001", "VIP0001号", "绿色通道001", "VIP绿色通道0001"])
def test_ticket_number_fits_one_line_by_display_width(width: int, number: str) -> None:
    """The number's size is chosen by its printed width (a Chinese character takes two
    columns), not by its character count: it is never wrapped, and is as big as fits."""
    ticket = TicketReceipt("市民中心", "综合窗口", number, 0, WHEN)
    lines = _printed_lines(ticket_bytes(ticket, LayoutOptions(width_chars=width)))
    parts = [line for line in lines if line.text and line.text in number]
    assert [part.text for part in parts] == [number]  # not wrapped
    line = parts[0]
    cols = text_columns(number)
    assert line.width * cols <= width
    assert line.width == 4 or (line.width + 1) * cols > width  # the largest size that fits
