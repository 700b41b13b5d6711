"""`python -m migrate` is the `migrate` command."""

from .cli import main

main()
