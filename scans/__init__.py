"""Network scans: authorizations, nmap runs, their results and the changes between them."""
