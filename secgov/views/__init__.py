"""Web pages of the core: sign-in, account, administration, audit log."""
