"""Nothing moves under the finger (issue 11, item 1) and a button answers a touch at once
(item 2): the real Kivy app, headless, in a subprocess driven by ui_layout_driver.py."""

from __future__ import annotations

from typing import Any

import pytest

from tests.kiosk.helpers import run_driver

pytestmark = pytest.mark.ui


@pytest.fixture(scope="module")
def layout_run() -> dict[str, Any]:
    return run_driver("ui_layout_driver.py")


def test_countdown_messages_and_print_status_move_nothing(layout_run: dict[str, Any]) -> None:
    # every screen in both modes (countdown and banner), the ticket and the guide printed
    # and search results and a long mailing address, which moved the keyboard
    assert layout_run["checked"] >= 2 * 2 * 24 + 5
    assert layout_run["moved"] == []
    assert layout_run["banner_shown"]


def test_a_held_finger_changes_the_button(layout_run: dict[str, Any]) -> None:
    up, down = layout_run["pixel_up"], layout_run["pixel_down"]
    assert up != down, f"{layout_run['pressed_button']!r} looks the same while pressed"
    assert layout_run["pixel_after"] == up  # and back when the finger lifts


def test_bold_is_bold(layout_run: dict[str, Any]) -> None:
    """Item 7: ``bold=True`` drew the regular face (the only one the CJK font has)."""
    assert layout_run["ink_bold"] >= 1.25 * layout_run["ink_regular"], layout_run


def test_no_line_breaks_the_chinese_rules(layout_run: dict[str, Any]) -> None:
    """Item 9: no line of any screen starts with "）、】，。" or ends with "（【"."""
    assert layout_run["lines_checked"] > 200
    assert layout_run["line_breaks"] == []


def test_pictures_and_steps(layout_run: dict[str, Any]) -> None:
    """Item 6: where to put the card is drawn, in the middle; the ticket's steps say
    where the person is (step 2 of 4, the one before ticked)."""
    what, centre, middle = layout_run["howto"]
    assert what == "card" and abs(centre - middle) <= 2 and layout_run["howto_drawn"] > 10
    assert layout_run["steps"] == [
        ["✔ 选择事项", False],
        ["2 验证身份", True],
        ["3 选择类别", False],
        ["4 取号", False],
    ]


def test_a_long_address_stays_on_one_line_showing_its_end(layout_run: dict[str, Any]) -> None:
    field = layout_run["address_field"]
    assert "\n" not in field and "…" in field
    assert field.endswith("一百二十八号") and field.startswith("▶ ")


def test_home_entries_carry_drawn_icons(layout_run: dict[str, Any]) -> None:
    ink = layout_run["icon_ink"]
    assert set(ink) == {"guide", "ticket", "checkin", "case", "rating", "help", "mailing"}
    # lines of the words' colour cover part of the icon's square, not all of it
    assert all(0.04 < share < 0.5 for share in ink.values()), ink


#: screens whose height is their data (a list of services, search results) or that open
#: with the step indicator and a picture of what to do
SHORT_BY_NATURE = {"category", "search", "ticket_identify", "rating"}


def test_screens_use_the_height_of_the_screen(layout_run: dict[str, Any]) -> None:
    # 20 of 27 screens used less than 40 % of the height: results and questions now sit in
    # the middle of the screen with a big sign, choices are big targets
    reach = layout_run["reach"]
    assert len(reach) >= 2 * 24
    short = {k: v for k, v in reach.items() if v < 0.4 and k.split("/")[0] not in SHORT_BY_NATURE}
    assert short == {}
