"""Sequences domain."""
