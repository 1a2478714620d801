"""Use cases run inside a request: called by the web pages, the REST API and the CLI."""
