"""Shared kernel: settings, database and unit of work, errors, principals, logging, clock."""
