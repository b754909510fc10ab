"""Tables of the assessments domain (added by the issues that build it)."""
