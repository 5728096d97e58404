"""Appointments domain."""
