"""Screens of the TUI: sign-in, counter, validator kiosk, settings, and the counter's dialogs."""
