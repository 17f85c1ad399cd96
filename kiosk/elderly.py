"""Elderly mode (适老化) policy: sizes, contrast, timeouts, when to offer it.

The numbers are the product owner's limits; the theme is built from them and
``python -m kiosk audit`` checks the rendered screens against them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class ModeLimits:
    """Limits a screen must satisfy in one mode (audit) and the sizes the theme uses."""

    body_sp: float  #: main text
    title_sp: float
    small_sp: float  #: the smallest text a screen may use
    min_target_dp: float  #: touch targets at least this wide and high
    min_contrast: float  #: WCAG contrast ratio
    line_height: float
    max_choices: int  #: entries per screen page
    entry_dp: float  #: height of the home screen's big entry buttons
    timeout_factor: float
    speak: bool  #: every screen and result read aloud


NORMAL = ModeLimits(
    body_sp=20,
    title_sp=30,
    small_sp=18,
    min_target_dp=60,  # a public kiosk, not a phone: 60 dp in both modes
    min_contrast=4.5,
    line_height=1.2,
    max_choices=8,
    entry_dp=250,
    timeout_factor=1.0,
    speak=False,
)
ELDERLY = ModeLimits(
    body_sp=32,
    title_sp=44,
    small_sp=32,
    min_target_dp=60,
    min_contrast=7.0,
    line_height=1.35,
    max_choices=6,
    entry_dp=230,  # the icon, then words of 44 sp on up to two lines
    timeout_factor=2.0,
    speak=True,
)
#: Elderly text must be at least this many times normal text.
SCALE_MIN = 1.6


def limits(elderly: bool) -> ModeLimits:
    return ELDERLY if elderly else NORMAL


def should_offer(age: int | None, threshold: int, already_elderly: bool) -> bool:
    """Offer (never force) elderly mode after an ID card read at or above the threshold."""
    return age is not None and age >= threshold and not already_elderly


def age_on(birth: dt.date, day: dt.date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def inactivity_s(base_s: float, elderly: bool) -> float:
    return base_s * limits(elderly).timeout_factor


def page(items: list, elderly: bool, index: int = 0) -> tuple[list, int]:  # type: ignore[type-arg]
    """The ``index``-th page of ``items`` for the mode (fewer choices per screen when
    elderly) and the number of pages."""
    n = limits(elderly).max_choices
    pages = max(1, -(-len(items) // n))
    index = max(0, min(index, pages - 1))
    return items[index * n : (index + 1) * n], pages
