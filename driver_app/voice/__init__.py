"""Offline voice: push-to-talk capture, grammar-based command recognition, and speech output."""
