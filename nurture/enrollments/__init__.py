"""Enrollments domain."""
