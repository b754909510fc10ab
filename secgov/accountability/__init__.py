"""Accountability (SPEC §5): the duties, their effective-dated assignments and their gaps."""
