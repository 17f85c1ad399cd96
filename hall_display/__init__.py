"""The display program (role ``display``): window LEDs over Modbus RTU and voice calls;
see docs/display.md."""
