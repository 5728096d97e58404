"""Long studio actions (lead imports) run by a worker, with their state kept in the database."""
