"""Read-only queries the pages show: they take plain values and change nothing."""
