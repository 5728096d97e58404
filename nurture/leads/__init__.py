"""Leads domain."""
