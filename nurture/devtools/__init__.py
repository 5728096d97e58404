"""Tools for the people who work on Nurture; nothing here runs in the service."""
