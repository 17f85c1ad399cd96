"""Measurements over a drawn frame: what a person sees, not what the widgets say. Pure
(numpy only, no Kivy): the audit hands in the window's pixels and the widgets' boxes.

A frame is an ``(height, width, 3)`` uint8 array in *window* coordinates: row 0 is the
bottom row (OpenGL's ``glReadPixels`` order, Kivy's ``y`` axis), so a widget's
``(x, y, width, height)`` indexes it directly as ``frame[y:y + height, x:x + width]``.

Colours are medians of bands of pixels (text or a corner in a band does not move a
median), contrast is WCAG 2.x (:mod:`kiosk.contrast`), ink is what differs from a
background by more than :data:`INK_LEVELS` (anti-aliased edges included, as an eye sees
them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from kiosk.contrast import contrast

Frame = NDArray[np.uint8]
#: a pixel is ink when one channel differs from the background by more than this
INK_LEVELS = 40
#: the bands around a widget's edge, in pixels: its ring (0..RING inside the edge),
#: its fill (FILL inside), what surrounds it (OUTSIDE beyond the edge)
RING = (0, 3)
FILL = (5, 9)
OUTSIDE = (2, 5)


@dataclass(frozen=True)
class Box:
    """A widget's box on the window, in whole pixels (window coordinates)."""

    x: int
    y: int
    w: int
    h: int

    @classmethod
    def of(cls, x: float, y: float, w: float, h: float) -> Box:
        return cls(round(x), round(y), round(w), round(h))

    @property
    def right(self) -> int:
        return self.x + self.w

    @property
    def top(self) -> int:
        return self.y + self.h

    def inside(self, other: Box) -> bool:
        return (
            self.x >= other.x
            and self.y >= other.y
            and self.right <= other.right
            and self.top <= other.top
        )

    def inset(self, d: int) -> Box:
        return Box(self.x + d, self.y + d, max(0, self.w - 2 * d), max(0, self.h - 2 * d))


def frame_from_bytes(data: bytes, width: int, height: int, channels: int = 4) -> Frame:
    """``glReadPixels`` output (bottom row first) as a frame (alpha dropped)."""
    a = np.frombuffer(data, dtype=np.uint8).reshape(height, width, channels)
    return a[:, :, :3]


def rgb01(c: NDArray[np.uint8] | tuple[int, ...]) -> tuple[float, float, float]:
    return (float(c[0]) / 255, float(c[1]) / 255, float(c[2]) / 255)


def ratio(a: NDArray[np.uint8] | tuple[int, ...], b: NDArray[np.uint8] | tuple[int, ...]) -> float:
    """WCAG contrast of two opaque 0..255 colours."""
    return contrast((*rgb01(a), 1.0), (*rgb01(b), 1.0))


def median(frame: Frame, box: Box) -> NDArray[np.uint8] | None:
    """The median colour of the pixels of ``box`` that lie on the frame (None if none):
    the middle pixel with the colours ordered as numbers ``0xRRGGBB`` — a colour that is
    really there, and the colour of a band whenever more than half the band has it."""
    h, w = frame.shape[:2]
    x0, y0 = max(0, box.x), max(0, box.y)
    x1, y1 = min(w, box.right), min(h, box.top)
    if x1 <= x0 or y1 <= y0:
        return None
    p = frame[y0:y1, x0:x1].reshape(-1, 3).astype(np.uint32)
    packed = (p[:, 0] << 16) | (p[:, 1] << 8) | p[:, 2]
    mid = int(np.partition(packed, len(packed) // 2)[len(packed) // 2])
    return np.array([(mid >> 16) & 255, (mid >> 8) & 255, mid & 255], dtype=np.uint8)


def side_bands(box: Box, near: int, far: int, *, keep: float = 0.8) -> dict[str, Box]:
    """Bands along each side of ``box`` between ``near`` and ``far`` pixels from the edge
    (positive: outward, negative: inward), over the middle ``keep`` of the side (corners
    are rounded or shared)."""
    lo, hi = min(near, far), max(near, far)
    cut_x, cut_y = round(box.w * (1 - keep) / 2), round(box.h * (1 - keep) / 2)
    mid_w, mid_h = max(1, box.w - 2 * cut_x), max(1, box.h - 2 * cut_y)
    d = hi - lo
    return {
        "left": Box(box.x - hi, box.y + cut_y, d, mid_h),
        "right": Box(box.right + lo, box.y + cut_y, d, mid_h),
        "bottom": Box(box.x + cut_x, box.y - hi, mid_w, d),
        "top": Box(box.x + cut_x, box.top + lo, mid_w, d),
    }


@dataclass
class Boundary:
    """How well a component's extent stands out from what surrounds it (WCAG 1.4.11):
    per side, the stronger of ring/outside and fill/outside; ``ratio`` is the weakest
    side. ``fill`` is the component's inside colour."""

    ratio: float
    sides: dict[str, float] = field(default_factory=dict)
    fill: tuple[int, ...] = ()
    ring: tuple[int, ...] = ()


def boundary(frame: Frame, box: Box, clip: Box | None = None) -> Boundary | None:
    """The boundary contrast of the component drawn in ``box``; sides whose outside band
    is off the frame or outside ``clip`` (the visible part of a scroll view) are not
    measured. None when no side can be measured."""
    h, w = frame.shape[:2]
    view = Box(0, 0, w, h) if clip is None else clip
    outs = side_bands(box, OUTSIDE[0], OUTSIDE[1])
    rings = side_bands(box, -RING[1], -RING[0])
    fills = side_bands(box, -FILL[1], -FILL[0])
    sides: dict[str, float] = {}
    fill_all = median(frame, box.inset(FILL[0]))
    ring_c: NDArray[np.uint8] | None = None
    for side, out_box in outs.items():
        if not out_box.inside(view) or not rings[side].inside(view):
            continue
        out, ring, fill = (median(frame, b) for b in (out_box, rings[side], fills[side]))
        if out is None or ring is None or fill is None:
            continue
        ring_c = ring
        sides[side] = round(max(ratio(ring, out), ratio(fill, out)), 2)
    if not sides:
        return None
    return Boundary(
        ratio=min(sides.values()),
        sides=sides,
        fill=tuple(int(v) for v in fill_all) if fill_all is not None else (),
        ring=tuple(int(v) for v in ring_c) if ring_c is not None else (),
    )


def ink_mask(frame: Frame, box: Box, bg: NDArray[np.uint8] | tuple[int, ...]) -> NDArray[np.bool_]:
    """Which pixels of ``box`` (clipped to the frame) differ from ``bg``: the ink."""
    h, w = frame.shape[:2]
    x0, y0 = max(0, box.x), max(0, box.y)
    x1, y1 = min(w, box.right), min(h, box.top)
    if x1 <= x0 or y1 <= y0:
        return np.zeros((0, 0), dtype=bool)
    region = frame[y0:y1, x0:x1].astype(np.int16)
    diff = np.abs(region - np.asarray(bg, dtype=np.int16)[:3]).max(axis=2)
    return np.asarray(diff > INK_LEVELS)


def ink_box(frame: Frame, box: Box, bg: NDArray[np.uint8] | tuple[int, ...]) -> Box | None:
    """The bounding box (window coordinates) of the ink in ``box``; None if there is none."""
    m = ink_mask(frame, box, bg)
    if not m.any():
        return None
    rows = np.flatnonzero(m.any(axis=1))
    cols = np.flatnonzero(m.any(axis=0))
    x0, y0 = max(0, box.x), max(0, box.y)
    return Box(
        x0 + int(cols[0]),
        y0 + int(rows[0]),
        int(cols[-1] - cols[0] + 1),
        int(rows[-1] - rows[0] + 1),
    )


@dataclass(frozen=True)
class Centring:
    """Where a target's content (its ink) sits against the target's middle, in pixels
    (``dx`` > 0: right of the middle; ``dy`` > 0: above it) and as fractions of the
    target's height."""

    dx: float
    dy: float
    dx_rel: float
    dy_rel: float
    ink: Box


def centring(
    frame: Frame, box: Box, bg: NDArray[np.uint8] | tuple[int, ...], inset: int
) -> Centring | None:
    """The ink of ``box`` (less ``inset`` pixels all round: the edge ring) against the
    box's middle."""
    ink = ink_box(frame, box.inset(inset), bg)
    if ink is None or box.h <= 0:
        return None
    dx = (ink.x + ink.w / 2) - (box.x + box.w / 2)
    dy = (ink.y + ink.h / 2) - (box.y + box.h / 2)
    return Centring(dx, dy, dx / box.h, dy / box.h, ink)


def ink_weight(
    frame: Frame,
    box: Box,
    bg: NDArray[np.uint8] | tuple[int, ...],
    fg: NDArray[np.uint8] | tuple[int, ...],
) -> int:
    """How many pixels of ``box`` are at least half way from ``bg`` to ``fg`` (text drawn
    in ``fg`` on ``bg``): a bold face carries more of them than a regular one."""
    h, w = frame.shape[:2]
    x0, y0 = max(0, box.x), max(0, box.y)
    x1, y1 = min(w, box.right), min(h, box.top)
    if x1 <= x0 or y1 <= y0:
        return 0
    region = frame[y0:y1, x0:x1].astype(np.float32)
    b = np.asarray(bg, dtype=np.float32)[:3]
    d = np.asarray(fg, dtype=np.float32)[:3] - b
    norm = float((d * d).sum())
    if norm < 1:
        return 0
    t = ((region - b) * d).sum(axis=2) / norm
    return int((t >= 0.5).sum())


def alpha_weight(rgba: bytes) -> int:
    """Ink of a texture (RGBA bytes): pixels at least half covered."""
    a = np.frombuffer(rgba, dtype=np.uint8)[3::4]
    return int((a >= 128).sum())


# ------------------------------------------------------------------ scripts on screen
_HAN = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
#: CJK punctuation and full-width forms (（），。：；、【】《》「」…)
_CJK_PUNCT = r"\u3000-\u303f\uff00-\uffef"
CJK = re.compile(f"[{_HAN}{_CJK_PUNCT}]")
ARABIC = re.compile(r"[\u0600-\u06ff\u0750-\u077f\ufb50-\ufdff\ufe70-\ufeff]")
#: a Latin word; not part of an identifier with digits (``A001``, a case number)
LATIN_WORD = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2,}(?![A-Za-z0-9])")
#: a masked personal name (示*人): a name stays in its own script
MASKED_NAME = re.compile(f"[{_HAN}]\\*+[{_HAN}]?")
_PAIRS = ("()", "（）", "[]", "【】", "{}", "<>", "《》", "「」", "『』")
_MIRRORED = str.maketrans({p[i]: p[1 - i] for p in _PAIRS for i in (0, 1)})


def logical_line(line: str) -> str:
    """A right-to-left line as drawn (visual order, brackets mirrored) back in reading
    order: what the line-break rules speak of."""
    return line[::-1].translate(_MIRRORED)


def stray_script(text: str, lang: str, allowed: tuple[str, ...] = ()) -> list[str]:
    """What of ``text`` is in a script the language ``lang`` does not show: Chinese
    characters or CJK punctuation in English or Uyghur, Latin words in Chinese, Arabic
    script outside Uyghur. ``allowed``: passages (content without a translation, words
    of the hall's data) removed first."""
    for a in sorted(allowed, key=len, reverse=True):
        if len(a) > 1:  # a one-letter passage (a queue's prefix "A") would blank words
            text = text.replace(a, " ")
    text = MASKED_NAME.sub(" ", text)
    if lang == "zh":
        found = LATIN_WORD.findall(text) + ARABIC.findall(text)
    elif lang == "ug":
        found = CJK.findall(text)
    else:
        found = CJK.findall(text) + ARABIC.findall(text)
    return list(dict.fromkeys(found))


def edge_colour(frame: Frame, box: Box, quantile: float = 0.1) -> NDArray[np.uint8] | None:
    """The colour of a component's edge line: the pixel at the darkest ``quantile`` of
    its ring (a dashed or thin edge is a minority of the ring; a median would miss it)."""
    rings = [b for b in side_bands(box, -RING[1], -RING[0], keep=0.9).values()]
    h, w = frame.shape[:2]
    parts = []
    for b in rings:
        x0, y0 = max(0, b.x), max(0, b.y)
        x1, y1 = min(w, b.right), min(h, b.top)
        if x1 > x0 and y1 > y0:
            parts.append(frame[y0:y1, x0:x1].reshape(-1, 3))
    if not parts:
        return None
    ring = np.concatenate(parts)
    lum = ring.astype(np.float32) @ np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)
    i = np.argsort(lum)[int(quantile * (len(lum) - 1))]
    return np.asarray(ring[i], dtype=np.uint8)
