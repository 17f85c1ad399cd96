"""Barcode/QR scanners: serial (USB-CDC) scanners and a camera pipeline, one event type."""

from devices.scanner.protocol import ScanEvent

__all__ = ["ScanEvent"]
