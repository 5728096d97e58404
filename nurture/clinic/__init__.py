"""The clinic's identity as patients see it: env defaults, studio overrides, one lookup."""
