"""Structural simplification rules applied while composites are built."""
