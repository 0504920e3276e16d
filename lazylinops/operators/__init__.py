"""Operator families, one file each (DESIGN §4)."""
