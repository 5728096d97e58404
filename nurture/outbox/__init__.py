"""The outbox table and its planning API: every future message is a row here."""
