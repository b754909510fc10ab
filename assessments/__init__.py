"""The assessments domain package."""
