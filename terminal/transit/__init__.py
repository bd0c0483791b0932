"""Transit and venue validators: fare data, the pure fare engine, the validator, venue passes (docs/transit.md)."""
