"""Helpers only the tests use (kept out of the package, so the wheel ships none of them)."""
