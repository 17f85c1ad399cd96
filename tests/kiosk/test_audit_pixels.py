"""The audit measures what a person sees (issue 11): the pixel measurements on made-up
frames (no Kivy), every check failing on a defect planted in a tiny Kivy app
(ui_audit_driver.py), and ``python -m kiosk audit`` running every check on real screens."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kiosk.ui import pixels as px
from tests.kiosk.test_ui import ROOT, headless_env

WHITE, LIGHT, DARK, EDGE = (255, 255, 255), (230, 238, 246), (10, 74, 138), (10, 37, 64)


def frame(w: int = 200, h: int = 120, bg: tuple[int, int, int] = WHITE) -> px.Frame:
    f = np.zeros((h, w, 3), dtype=np.uint8)
    f[:, :] = bg
    return f


def paint(f: px.Frame, b: px.Box, colour: tuple[int, int, int]) -> None:
    f[b.y : b.top, b.x : b.right] = colour


BUTTON = px.Box(40, 30, 120, 60)


# ------------------------------------------------------------------ pixels, no Kivy
def test_a_light_button_without_an_edge_fails_and_with_one_passes() -> None:
    f = frame()
    paint(f, BUTTON, LIGHT)
    bare = px.boundary(f, BUTTON)
    assert bare is not None and bare.ratio < 1.3  # E6EEF6 on white: 1.2:1
    paint(f, BUTTON, EDGE)
    paint(f, BUTTON.inset(3), LIGHT)
    edged = px.boundary(f, BUTTON)
    assert (
        edged is not None
        and edged.ratio > 10
        and set(edged.sides)
        == {
            "left",
            "right",
            "bottom",
            "top",
        }
    )


def test_a_dark_button_on_a_dark_bar_fails() -> None:
    f = frame(bg=EDGE)  # the bar
    paint(f, BUTTON, DARK)  # a primary button on it
    m = px.boundary(f, BUTTON)
    assert m is not None and 1.5 < m.ratio < 2.0


def test_sides_off_the_frame_or_the_clip_are_not_measured() -> None:
    f = frame()
    b = px.Box(0, 30, 120, 60)  # its left side on the frame's edge
    paint(f, b, DARK)
    m = px.boundary(f, b, clip=px.Box(0, 0, 200, 88))  # the top beyond the clip
    assert m is not None and set(m.sides) == {"right", "bottom"}


def test_text_off_the_middle_is_measured() -> None:
    f = frame()
    paint(f, BUTTON, DARK)
    paint(f, px.Box(80, 60, 40, 20), WHITE)  # "text" above the middle (y up)
    c = px.centring(f, BUTTON, DARK, inset=4)
    assert c is not None and c.dx == 0 and c.dy == 10 and abs(c.dy_rel - 10 / 60) < 1e-9
    paint(f, BUTTON, DARK)
    paint(f, px.Box(80, 50, 40, 20), WHITE)
    c = px.centring(f, BUTTON, DARK, inset=4)
    assert c is not None and c.dy == 0


def test_ink_weight_counts_what_is_half_way_to_the_text_colour() -> None:
    f = frame()
    paint(f, px.Box(10, 10, 10, 10), (0, 0, 0))
    paint(f, px.Box(30, 10, 10, 10), (200, 200, 200))  # faint: not ink
    assert px.ink_weight(f, px.Box(0, 0, 200, 120), WHITE, (0, 0, 0)) == 100
    assert px.alpha_weight(bytes([0, 0, 0, 255, 0, 0, 0, 100, 0, 0, 0, 128])) == 2


def test_median_edge_colour_and_ink_box() -> None:
    f = frame()
    paint(f, BUTTON, LIGHT)
    for x in range(BUTTON.x, BUTTON.right, 4):  # a dashed 1-px edge, top and bottom
        paint(f, px.Box(x, BUTTON.y + 1, 3, 1), (118, 118, 118))
        paint(f, px.Box(x, BUTTON.top - 2, 3, 1), (118, 118, 118))
    mid, edge = px.median(f, BUTTON), px.edge_colour(f, BUTTON)
    assert mid is not None and tuple(mid.tolist()) == LIGHT
    assert edge is not None and tuple(edge.tolist()) == (118, 118, 118)
    paint(f, BUTTON, DARK)
    assert px.ink_box(f, px.Box(0, 0, 200, 120), WHITE) == BUTTON
    assert px.ink_box(frame(), px.Box(0, 0, 200, 120), WHITE) is None


def test_frame_from_gl_bytes_keeps_the_bottom_row_first() -> None:
    data = bytes([1, 2, 3, 255, 4, 5, 6, 255])  # two pixels: one row of 2
    f = px.frame_from_bytes(data, 1, 2)
    assert f[0, 0].tolist() == [1, 2, 3] and f[1, 0].tolist() == [4, 5, 6]


def test_scripts_that_do_not_belong() -> None:
    assert px.stray_script("Fees：20 yuan", "en") == ["："]
    assert px.stray_script("Take a ticket（outside hours）", "en") == ["（", "）"]
    assert px.stray_script("打印机：FAULT", "zh") == ["FAULT"]
    assert px.stray_script("状态 ready", "zh") == ["ready"]
    # identifiers, masked names, untranslated content and the languages' own names pass
    assert px.stray_script("办件编号：YUNXI2026111800001 票号 A001", "zh") == []
    assert px.stray_script("Identified: 示*人", "en") == []
    assert px.stray_script("Materials: 户口簿", "en", ("户口簿",)) == []
    assert px.stray_script("English / ئۇيغۇرچە", "zh", ("English", "ئۇيغۇرچە")) == []
    # Uyghur: Arabic script and Latin pass, Chinese does not
    assert px.stray_script("ھەققى 20 yuan", "ug") == []
    assert px.stray_script("ھەققى：20元", "ug") == ["：", "元"]
    assert px.stray_script("ھەققى", "en") != []


def test_right_to_left_lines_are_read_back_in_reading_order() -> None:
    # drawn: reversed, with its brackets mirrored (python-bidi); read: as typed
    assert px.logical_line("（ba）") == "（ab）"


# ------------------------------------------------------------------ planted defects
def run(args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, capture_output=True, text=True, timeout=timeout, env=headless_env(), cwd=ROOT
    )


@pytest.fixture(scope="module")
def planted() -> dict[str, Any]:
    proc = run([sys.executable, str(Path(__file__).with_name("ui_audit_driver.py"))], 120)
    lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    assert lines, proc.stdout[-2000:] + proc.stderr[-3000:]
    out: dict[str, Any] = json.loads(lines[-1][7:])
    return out


def failures_of(report: dict[str, Any], widget: str) -> list[str]:
    return [f for f in report["failures"] if widget in f]


@pytest.mark.ui
@pytest.mark.parametrize(
    ("widget", "finding"),
    [
        ("'看不清的边' boundary contrast", "< 3.0"),  # a light button that lost its edge
        ("'看不清的边' held down: boundary contrast", "< 3.0"),  # and held down
        ("'字在上面'", "px high in a"),  # text sitting high in its button
        ("'不能点' disabled looks like enabled", "< 3.0"),
        ("'粗体不粗' bold has", "the ink of regular < 1.25"),
        ("'办理时限（工作日\\n）二十天' line break", "starts with '）'"),
        ("'打印机：FAULT' not zh", "FAULT"),
        ("SmallCheck '小方框' check box", "< the text's character height"),
        ("step '2 二' current step stands out", "< 3.0"),
        ("QR", "< 200"),
        ("HowTo 'card' picture", "< 240×200"),
        ("'· 注意' icon '·'", "of a character's height < 60%"),
        ("KLabel '会动的字' moved", "while shown"),
        ("'提交' main action not on the screen without scrolling", "outside the visible"),
    ],
)
def test_each_check_fails_on_its_planted_defect(
    planted: dict[str, Any], widget: str, finding: str
) -> None:
    found = failures_of(planted, widget)
    assert found and all(finding in f for f in found), planted["failures"]


@pytest.mark.ui
def test_the_clean_button_passes_every_check(planted: dict[str, Any]) -> None:
    assert failures_of(planted, "清楚的按钮") == []
    assert failures_of(planted, "KButton '可以点'") == []  # the disabled one's enabled neighbour
    assert planted["checks"]["boundary_pressed"] >= 4


# The real screens: tests/kiosk/test_ui.py::test_audit_passes runs the whole audit (every
# state, both modes, every language) and checks that every check measured something.
