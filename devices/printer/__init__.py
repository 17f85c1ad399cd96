"""ESC/POS receipt printer: status decoding, receipt layouts, driver, virtual printer.

The kiosk uses :class:`devices.printer.driver.Printer` with the receipts from
:mod:`devices.printer.layouts`; everything else is plumbing or test equipment.
"""

from devices.printer.layouts import NoticeMaterial, NoticeReceipt, TestPageInfo, TicketReceipt
from devices.printer.settings import PrinterSettings
from devices.printer.status import PrinterStatus

__all__ = [
    "NoticeMaterial",
    "NoticeReceipt",
    "PrinterSettings",
    "PrinterStatus",
    "TestPageInfo",
    "TicketReceipt",
]
