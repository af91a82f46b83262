"""The `endotrial` command: a thin shell over the engines and services.

Each command parses its options, calls one function of the core and renders the result; any
`EndotrialError` becomes a one-line message on stderr and exit code 2.
"""

from endotrial.cli.app import app, main

__all__ = ["app", "main"]
