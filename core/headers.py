"""Response headers that more than one layer sends."""

from __future__ import annotations

# RFC 6749 5.1: token responses carry Cache-Control: no-store and Pragma: no-cache (for
# HTTP/1.0 caches); pages, redirects and downloads with personal data send the same.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
