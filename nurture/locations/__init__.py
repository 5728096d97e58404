"""The clinic's sites: where visits happen and which site a lead is closest to."""
