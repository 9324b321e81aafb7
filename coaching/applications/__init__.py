"""The copilot's applications: one small class per kind of call."""
