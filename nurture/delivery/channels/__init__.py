"""Channels: one interface for sending prepared messages, one module per provider."""
