"""Terminal-side command builders and answer parsers (pure: bytes in, bytes out)."""
