"""The agency API: verification and lookup of citizens under per-agency policy."""
