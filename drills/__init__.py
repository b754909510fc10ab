"""The drills domain package."""
