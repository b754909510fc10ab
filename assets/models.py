"""Tables of the assets domain (added by the issues that build it)."""
