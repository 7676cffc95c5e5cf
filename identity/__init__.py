"""Citizen accounts, passwords, passkeys and the OpenID Connect provider."""
