"""The home entries' icons, drawn as lines (no image files, no icon font: every line is
ours, in the button's own text colour, at any size and in both modes).

Each icon is a list of strokes in a unit square (0, 0 at the bottom left): a polyline
(points), a closed polygon, or a circle. ``draw`` scales them into a square of ``side``.
"""

from __future__ import annotations

import math
from typing import Any

from kivy.graphics import Color, InstructionGroup, Line

Stroke = tuple[str, tuple[float, ...]]


def _star() -> tuple[float, ...]:
    pts: list[float] = []
    for i in range(10):
        r = 0.48 if i % 2 == 0 else 0.2
        a = math.pi / 2 + i * math.pi / 5
        pts += [0.5 + r * math.cos(a), 0.47 + r * math.sin(a)]
    return tuple(pts)


#: a ticket's outline, with the notches of its tear-off line
_TICKET: tuple[float, ...] = (0.04, 0.22, 0.96, 0.22, 0.96, 0.42, 0.9, 0.5, 0.96, 0.58)
_TICKET += (0.96, 0.78, 0.04, 0.78, 0.04, 0.58, 0.1, 0.5, 0.04, 0.42)

ICONS: dict[str, list[Stroke]] = {
    # an open book
    "guide": [
        ("poly", (0.5, 0.18, 0.06, 0.26, 0.06, 0.86, 0.5, 0.78, 0.94, 0.86, 0.94, 0.26)),
        ("line", (0.5, 0.18, 0.5, 0.78)),
        ("line", (0.16, 0.62, 0.4, 0.58)),
        ("line", (0.16, 0.46, 0.4, 0.42)),
        ("line", (0.6, 0.58, 0.84, 0.62)),
        ("line", (0.6, 0.42, 0.84, 0.46)),
    ],
    # a ticket with its tear-off line and a number
    "ticket": [
        ("poly", _TICKET),
        ("line", (0.7, 0.28, 0.7, 0.72)),
        ("line", (0.2, 0.62, 0.56, 0.62)),
        ("line", (0.2, 0.5, 0.5, 0.5)),
        ("line", (0.2, 0.38, 0.56, 0.38)),
    ],
    # a calendar page with a tick
    "checkin": [
        ("poly", (0.08, 0.06, 0.92, 0.06, 0.92, 0.82, 0.08, 0.82)),
        ("line", (0.08, 0.64, 0.92, 0.64)),
        ("line", (0.28, 0.72, 0.28, 0.94)),
        ("line", (0.72, 0.72, 0.72, 0.94)),
        ("line", (0.3, 0.36, 0.45, 0.22, 0.72, 0.5)),
    ],
    # a magnifying glass over a page
    "case": [
        ("poly", (0.08, 0.1, 0.62, 0.1, 0.62, 0.92, 0.08, 0.92)),
        ("line", (0.18, 0.74, 0.5, 0.74)),
        ("line", (0.18, 0.6, 0.4, 0.6)),
        ("circle", (0.62, 0.42, 0.2)),
        ("line", (0.76, 0.28, 0.94, 0.08)),
    ],
    # a star
    "rating": [("poly", _star())],
    # a person with a raised hand
    "help": [
        ("circle", (0.42, 0.8, 0.13)),
        ("line", (0.14, 0.04, 0.14, 0.4, 0.26, 0.58, 0.58, 0.58, 0.7, 0.4, 0.7, 0.04)),
        ("line", (0.66, 0.56, 0.86, 0.78, 0.86, 0.96)),
    ],
    # a speech bubble with an exclamation mark
    "unresolved": [
        ("poly", (0.06, 0.3, 0.06, 0.92, 0.94, 0.92, 0.94, 0.3, 0.42, 0.3, 0.2, 0.08, 0.24, 0.3)),
        ("line", (0.5, 0.8, 0.5, 0.5)),
        ("circle", (0.5, 0.4, 0.02)),
    ],
    # done: a tick in a circle
    "done": [
        ("circle", (0.5, 0.5, 0.44)),
        ("line", (0.28, 0.5, 0.44, 0.33, 0.74, 0.66)),
    ],
    # something went wrong: an exclamation mark in a triangle
    "warn": [
        ("poly", (0.5, 0.94, 0.96, 0.1, 0.04, 0.1)),
        ("line", (0.5, 0.7, 0.5, 0.4)),
        ("circle", (0.5, 0.24, 0.025)),
    ],
    # an envelope
    "mailing": [
        ("poly", (0.04, 0.18, 0.96, 0.18, 0.96, 0.82, 0.04, 0.82)),
        ("line", (0.04, 0.82, 0.5, 0.42, 0.96, 0.82)),
    ],
}


def draw(name: str, x: float, y: float, side: float, rgba: Any, width: float) -> InstructionGroup:
    """Icon ``name`` in the square at (x, y) of ``side``, strokes ``width`` wide."""
    g = InstructionGroup()
    g.add(Color(*rgba))
    for kind, v in ICONS.get(name, []):
        if kind == "circle":
            cx, cy, r = v
            g.add(Line(circle=(x + cx * side, y + cy * side, r * side), width=width))
            continue
        pts = [x + p * side if i % 2 == 0 else y + p * side for i, p in enumerate(v)]
        g.add(Line(points=pts, width=width, close=kind == "poly", joint="round", cap="round"))
    return g
