"""Read queries shared by the web pages, the REST API, the CLI and the worker."""
