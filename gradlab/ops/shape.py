"""shape ops (being written)."""

FAMILY = "shape"
