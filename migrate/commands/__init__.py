"""One module per CLI command: click options + a call into the library + printing."""
