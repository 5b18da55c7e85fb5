"""Lava processes and fixed-point models (placeholder)."""
