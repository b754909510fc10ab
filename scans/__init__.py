"""The scans domain: authorized nmap runs against the assets' targets, their results and findings."""
