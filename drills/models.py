"""Tables of the drills domain (added by the issues that build it)."""
