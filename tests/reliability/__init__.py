"""Reliability under crashes and faults, against real processes."""
