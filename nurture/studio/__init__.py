"""Studio domain."""
