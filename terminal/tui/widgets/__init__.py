"""Widgets of the TUI (styling in ../app.tcss)."""
