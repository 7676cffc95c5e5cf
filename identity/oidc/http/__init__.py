"""The OpenID Provider's HTTP endpoints, one module per endpoint or spec (RFC 6749 error
bodies)."""
