"""Copilot rules: frames in, prioritised coaching messages out (sans-I/O)."""
