"""The OpenID Connect provider: authorization, tokens, claims, clients."""
