"""SecGov: the cybersecurity governance and risk register of a smart city.

The package imports nothing: `secgov.app.create_app` builds the web application, `secgov.cli`
is the command line (`python -m secgov`), `secgov.server` serves the application."""
