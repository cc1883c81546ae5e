"""reduce ops (being written)."""

FAMILY = "reduce"
