"""Sim adapters: read a sim (live, from a recording, or the built-in demo) into the canonical model."""
