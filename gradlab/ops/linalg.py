"""linalg ops (being written)."""

FAMILY = "linalg"
