"""Helpers shared by the tests (imported explicitly; not collected as tests)."""
