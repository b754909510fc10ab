"""The assets domain package."""
