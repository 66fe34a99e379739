"""Subcommands of the ``lam`` command line, one module each."""
