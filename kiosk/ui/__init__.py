"""Kivy layer of the kiosk. Import :mod:`kiosk.ui.boot` first (fonts, window config)."""
