"""Nurture: email nurture and appointment reminders for a chiropractic clinic."""

__version__ = "0.1.0"
