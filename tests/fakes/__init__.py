"""Fake provider HTTP servers for end-to-end tests and the benchmark (loopback only)."""
