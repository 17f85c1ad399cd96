"""Uyghur, right to left (issue 11, Languages): shaping, visual order and line breaks
(pure), the glyphs of the face, and the real app mirrored and back (headless Kivy)."""

from __future__ import annotations

import unicodedata
from typing import Any, get_args

import pytest

from kiosk import rtl
from kiosk.glyphs import missing
from kiosk.ui.boot import find_rtl_font
from tests.kiosk.helpers import run_driver

SENTENCE = "ئىش بېجىرىش قوللانمىسى، نومۇر ئېلىش ۋە كىملىك كارتىڭىزنى قويۇڭ"


def _width(text: str) -> float:
    return 10.0 * len(text)


def test_shaping_gives_contextual_forms_of_uyghur_letters() -> None:
    shaped = rtl.shape("بېجىرىش")
    assert len(shaped) == len("بېجىرىش")
    names = [unicodedata.name(ch) for ch in shaped]
    assert all("FORM" in n for n in names), names  # presentation forms, not base letters
    assert "ARABIC LETTER BEH INITIAL FORM" in names
    assert any("E MEDIAL FORM" in n for n in names)  # ې, a Uyghur letter


def test_visual_order_reverses_letters_but_not_numbers() -> None:
    shown = rtl.visual(rtl.shape("نومۇر A012 ، 3 ئادەم"), rtl=True)
    assert "A012" in shown and "3" in shown
    # the first word of the sentence is drawn at the right end
    assert shown.rstrip().endswith(rtl.shape("نومۇر")[::-1])
    assert rtl.is_rtl("نومۇر A012") and not rtl.is_rtl("A012 نومۇر")


def test_lines_break_in_logical_order_then_reorder_each() -> None:
    lines = rtl.lines(SENTENCE, 160, _width)
    assert len(lines) > 2
    assert all(_width(x) <= 160 for x in lines)
    # the sentence starts on the first line (at its right end), ends on the last
    assert lines[0].endswith(rtl.shape("ئىش")[::-1])
    assert lines[-1].startswith(rtl.shape("قويۇڭ")[::-1])
    # the Arabic comma never starts a line (it is the last character of its logical line,
    # drawn at the left end)
    assert not any(x.endswith("،") for x in lines)


def test_the_rtl_face_draws_every_uyghur_form() -> None:
    found = find_rtl_font()
    assert found is not None, "install fonts-dejavu-core (./hallkit.sh does)"
    letters = "اەبپتجچخدرزژسشغفقكگڭلمنھوۇۆۈۋېىيئ"
    words = " ".join(a + b + a for a in letters for b in letters)
    for face in found:
        assert missing(rtl.shape(words + " لا ، ؟ ؛"), face) == []


def test_every_uyghur_text_is_drawable() -> None:
    from kiosk.i18n import T, t

    found = find_rtl_font()
    assert found is not None
    # a text with Arabic letters is drawn in the RTL face (kiosk.ui.widgets.face_for)
    texts = " ".join(x for x in (t(key, "ug") for key in T) if rtl.has_arabic(x))
    assert len(texts) > 1000
    assert missing(rtl.shape(texts), found[0]) == []


@pytest.fixture(scope="module")
def rtl_run() -> dict[str, Any]:
    return run_driver("ui_rtl_driver.py")


@pytest.mark.ui
def test_language_choice_offers_each_language_in_its_own_script(rtl_run: dict[str, Any]) -> None:
    assert rtl_run["choices"] == ["中文", "English", "ئۇيغۇرچە"]
    assert rtl_run["choice_fonts"] == ["HallCJK", "HallCJK", "HallRTL"]
    assert rtl_run["screen_kept"] == "catalogue"


@pytest.mark.ui
def test_uyghur_mirrors_the_frame_and_grids(rtl_run: dict[str, Any]) -> None:
    ltr, mirrored = rtl_run["ltr_bars"], rtl_run["rtl_bars"]
    assert ltr["back_btn"] < ltr["home_btn"] < ltr["help_btn"]  # 返回 at the left
    assert mirrored["back_btn"] > mirrored["home_btn"] > mirrored["help_btn"]  # at the right
    assert ltr["hall_name"] < ltr["lang_btn"] and mirrored["hall_name"] > mirrored["lang_btn"]
    assert rtl_run["grid_first_right_of_second"]
    assert rtl_run["back_ltr_bars"] == ltr  # and all back in Chinese


@pytest.mark.ui
def test_uyghur_text_is_shaped_right_aligned_in_its_face(rtl_run: dict[str, Any]) -> None:
    title = rtl_run["title"]
    assert rtl.has_arabic(title["source"])
    assert title["font"] == "HallRTL" and title["halign"] == "right"
    # what is drawn: the shaped letters (no base forms left to join), reordered
    assert set(title["shown"]) - {"\n"} == set(rtl.shape(title["source"])) - {" "} | (
        {" "} if " " in title["shown"] else set()
    )
    assert title["shown"] != rtl.shape(title["source"])


@pytest.mark.ui
def test_keyboard_and_numbers_stay_left_to_right(rtl_run: dict[str, Any]) -> None:
    assert rtl_run["q_left_of_w"] and rtl_run["z_left_of_x"]
    assert rtl_run["number_shown_ltr"], rtl_run["number"]


def test_one_list_of_languages() -> None:
    from kiosk import i18n, settings

    assert get_args(settings.Language) == i18n.LANGS == tuple(i18n.LANG_NAMES)
    assert [x for x in i18n.LANGS if i18n.is_rtl(x)] == ["ug"]


def test_brackets_are_mirrored_in_right_to_left_runs_only() -> None:
    # an opening bracket at the right of an Uyghur word is drawn as ")" (it opens to the
    # left); one inside a left-to-right run stays as it is
    shown = rtl.visual(rtl.shape("كىتاب (قەلەم) A(1)2"), rtl=True)
    assert shown.startswith("A(1)2 (") and shown.rstrip().endswith(rtl.shape("كىتاب")[::-1])
    pen = rtl.shape("قەلەم")[::-1]
    assert f"({pen})" in shown


@pytest.mark.ui
def test_uyghur_is_typed_on_uyghur_keys(rtl_run: dict[str, Any]) -> None:
    # all 32 letters and ئ have a key of their own (no Shift on a kiosk)
    assert rtl_run["ug_keys"] == "چۋېرتيۇڭوپھسدائەىقكلزشغۈبنمجخژفگۆئ"
    assert rtl_run["che_left_of_waw"]  # q's place, then w's, as on the Uyghur keyboard
    assert rtl_run["typed"] == "كىتاب"


def test_what_a_citizen_typed_stays_out_of_the_shaping_cache() -> None:
    typed = "مېنىڭ ئادرېسىم 12-نومۇر"
    before = rtl._shape_ui.cache_info().currsize
    rtl.one_line(typed, cache=False)
    rtl.lines(typed, 100, _width, cache=False)
    assert rtl._shape_ui.cache_info().currsize == before
    rtl.one_line(typed)  # a screen text is cached
    assert rtl._shape_ui.cache_info().currsize == before + 1
