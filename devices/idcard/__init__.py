"""Resident ID card reader (二代证 SAM module over a serial line)."""

from devices.idcard.identity import CardType, Identity, PhotoDecoder, Sex

__all__ = ["CardType", "Identity", "PhotoDecoder", "Sex"]
