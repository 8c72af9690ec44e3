"""Subcommands of `stenod`, one module each (see stenod.cli)."""
