"""Generated histories for the insights tests."""
