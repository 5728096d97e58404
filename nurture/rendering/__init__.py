"""Rendering domain."""
