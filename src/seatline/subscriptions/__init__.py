"""Seat-change publishing after commit, fan-out and snapshots."""
