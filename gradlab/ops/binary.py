"""binary ops (being written)."""

FAMILY = "binary"
