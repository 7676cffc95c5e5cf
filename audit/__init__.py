"""Append-only access log with an RFC 9162 Merkle tree."""
