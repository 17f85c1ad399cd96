"""Data files shipped with the kiosk (see each file's ``about`` for its source and licence)."""
