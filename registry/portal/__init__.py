"""The web portals: the citizen's own pages and the auditor console (server-rendered)."""
