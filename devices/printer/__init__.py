"""ESC/POS receipt printer: status decoding, receipt layouts, driver, virtual printer.

The kiosk uses :class:`devices.printer.driver.Printer` with the receipts from
:mod:`devices.printer.layouts`; everything else is plumbing or test equipment.

The names below are imported when first used: reading the settings
(``devices.printer.settings``, e.g. the kiosk's config at start) does not load the
layouts and their QR and imaging libraries (~0.3 s on the kiosk's cold start).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from devices.printer.layouts import NoticeMaterial, NoticeReceipt, TestPageInfo, TicketReceipt
    from devices.printer.settings import PrinterSettings
    from devices.printer.status import PrinterStatus

_WHERE = {
    "NoticeMaterial": "layouts",
    "NoticeReceipt": "layouts",
    "TestPageInfo": "layouts",
    "TicketReceipt": "layouts",
    "PrinterSettings": "settings",
    "PrinterStatus": "status",
}

__all__ = [
    "NoticeMaterial",
    "NoticeReceipt",
    "PrinterSettings",
    "PrinterStatus",
    "TestPageInfo",
    "TicketReceipt",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
