"""Small shared utilities (atomic I/O, environment report)."""
