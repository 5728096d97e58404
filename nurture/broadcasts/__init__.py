"""One-off emails to a segment of leads, planned into the outbox at their scheduled time."""
