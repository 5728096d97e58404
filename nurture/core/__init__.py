"""The platform: settings, database, clock, signing, private files, file readers (no domains)."""
