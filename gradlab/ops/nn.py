"""nn ops (being written)."""

FAMILY = "nn"
