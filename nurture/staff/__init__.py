"""Staff accounts, API tokens and the audit log, used by the domains and the studio."""
