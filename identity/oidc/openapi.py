"""How the provider's endpoints are described in the OpenAPI document: the security schemes
callers authenticate with, the form bodies of the OAuth endpoints (RFC 6749 3.2, RFC 7009 2.1,
RFC 7662 2.1, OIDC Core 3.1.2.1) and their RFC 6749 5.2 error bodies."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from core.openapi import problem_content, problems
from core.settings import Settings
from identity.authn import session_cookie_name

AGENCY_SCOPES = {
    "verify": "Verify a citizen's attributes.",
    "verify_batch": "Verify many citizens at once.",
    "lookup": "Read the fields the agency's policy allows.",
}

STAFF_SCOPES = {
    "openid": "Sign the staff member in (OpenID Connect).",
    "staff": "Act with the signed-in staff member's roles on the registry's APIs.",
}


def security_schemes(settings: Settings) -> dict[str, dict[str, Any]]:
    """The ways a caller proves who it is (OpenAPI 3.1 4.8.27)."""
    return {
        "agencyToken": {
            "type": "oauth2",
            "description": "An agency's client_credentials access token (RFC 6749 4.4).",
            "flows": {
                "clientCredentials": {
                    "tokenUrl": settings.issuer + "/token",
                    "scopes": AGENCY_SCOPES,
                }
            },
        },
        "staffToken": {
            "type": "oauth2",
            "description": "An official's, auditor's or administrator's access token for an "
            "integration (another system acting for the signed-in staff member), instead of "
            "the session cookie and X-CSRF-Token header. Register a first-party client with the "
            "staff scope (`registry clients create --type rp --first-party --scope 'openid "
            "staff' --redirect-uri URI`), run the authorization code flow with PKCE S256; the "
            "staff member signs in with a passkey. The access token (RFC 9068, 'roles' claim) "
            "is sent as 'Authorization: Bearer <token>'; it acts with the staff member's roles "
            "only after a passkey sign-in, and stops working when the account is disabled or "
            "reset. Refresh tokens live at most as long as a staff session.",
            "flows": {
                "authorizationCode": {
                    "authorizationUrl": settings.issuer + "/authorize",
                    "tokenUrl": settings.issuer + "/token",
                    "refreshUrl": settings.issuer + "/token",
                    "scopes": STAFF_SCOPES,
                }
            },
        },
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "An RFC 9068 access token of the registry's own portal or of a client.",
        },
        "session": {
            "type": "apiKey",
            "in": "cookie",
            "name": session_cookie_name(settings),
            "description": "The sign-in session; a request that changes state also sends the "
            "X-CSRF-Token header.",
        },
        "clientBasic": {
            "type": "http",
            "scheme": "basic",
            "description": "client_secret_basic (RFC 6749 2.3.1); client_secret_post and "
            "private_key_jwt send their credentials in the form instead.",
        },
    }


# A client authenticates with HTTP Basic, or with credentials in the form ({}: no scheme).
CLIENT_AUTH: list[dict[str, list[str]]] = [{"clientBasic": []}, {}]
SIGNED_IN: list[dict[str, list[str]]] = [{"session": []}]


class OAuthErrorBody(BaseModel):
    """An RFC 6749 5.2 error response."""

    model_config = ConfigDict(extra="forbid", title="OAuthError")
    error: str = Field(description="invalid_request, invalid_client, invalid_grant, ...")
    error_description: str | None = None


def oauth_errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries of an OAuth endpoint: RFC 6749 error bodies (a database that is
    down still answers a problem)."""
    out: dict[int | str, dict[str, Any]] = {
        status: {"model": OAuthErrorBody, "description": "An OAuth 2.0 error (RFC 6749 5.2)."}
        for status in statuses
    }
    out.update(problems(503))
    return out


class _Form(BaseModel):
    model_config = ConfigDict(extra="allow")


class ClientCredentials(_Form):
    """Client authentication in the form (RFC 6749 2.3.1, RFC 7523 2.2)."""

    client_id: str | None = None
    client_secret: str | None = None
    client_assertion_type: str | None = None
    client_assertion: str | None = None


class TokenRequest(ClientCredentials):
    """RFC 6749 4.1.3, 4.4.2 and 6."""

    grant_type: Literal["authorization_code", "refresh_token", "client_credentials"]
    code: str | None = None
    redirect_uri: str | None = None
    code_verifier: str | None = None
    refresh_token: str | None = None
    scope: str | None = None


class TokenHint(ClientCredentials):
    """RFC 7009 2.1 and RFC 7662 2.1."""

    token: str
    token_type_hint: Literal["access_token", "refresh_token"] | None = None


class _AuthorizationParameters(_Form):
    response_type: Literal["code"]
    redirect_uri: str
    scope: str
    state: str | None = None
    nonce: str | None = None
    code_challenge: str
    code_challenge_method: Literal["S256"]
    prompt: str | None = None
    max_age: str | None = None
    login_hint: str | None = None
    acr_values: str | None = None
    claims: str | None = None
    ui_locales: str | None = None
    dpop_jkt: str | None = Field(None, description="RFC 9449 10: the DPoP key of the code.")


class AuthorizationRequest(_AuthorizationParameters):
    """OIDC Core 3.1.2.1 (code flow; PKCE S256 is required), or the request_uri of a pushed
    request (RFC 9126 4) with the client_id alone."""

    client_id: str
    request_uri: str | None = Field(None, description="A pushed request's (RFC 9126 4).")


class PushedRequest(ClientCredentials, _AuthorizationParameters):
    """RFC 9126 2.1: the parameters of an authorization request, and the client's
    credentials as at the token endpoint."""


class PushedResponse(BaseModel):
    """RFC 9126 2.2."""

    model_config = ConfigDict(extra="forbid")
    request_uri: str
    expires_in: int


class LogoutRequest(BaseModel):
    """OpenID Connect RP-Initiated Logout 1.0 section 2."""

    model_config = ConfigDict(extra="forbid")

    id_token_hint: str | None = None
    post_logout_redirect_uri: str | None = None
    state: str | None = None
    client_id: str | None = None
    csrf: str | None = Field(None, description="The confirmation page's CSRF token (POST).")


class TokenResponse(BaseModel):
    """RFC 6749 5.1 (and OIDC Core 3.1.3.3 with an ID token)."""

    model_config = ConfigDict(extra="forbid")
    access_token: str
    token_type: Literal["Bearer", "DPoP"]
    expires_in: int
    scope: str
    refresh_token: str | None = None
    id_token: str | None = None


class Introspection(BaseModel):
    """RFC 7662 2.2."""

    model_config = ConfigDict(extra="forbid")
    active: bool
    token_type: str | None = None
    client_id: str | None = None
    scope: str | None = None
    sub: str | None = None
    exp: int | None = None
    iat: int | None = None
    iss: str | None = None
    aud: str | list[str] | None = None
    jti: str | None = None
    cnf: dict[str, str] | None = None


def _schema(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema()
    schema.pop("title", None)
    # A form field is sent or left out; it is never null.
    for name, prop in schema["properties"].items():
        kinds = [k for k in prop.get("anyOf", ()) if k.get("type") != "null"]
        if len(kinds) == 1:
            schema["properties"][name] = {
                **kinds[0],
                **{k: v for k, v in prop.items() if k not in ("anyOf", "default")},
            }
    return schema


def form_body(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra=`` for a route that reads its form itself."""
    content = {"application/x-www-form-urlencoded": {"schema": _schema(model)}}
    return {"requestBody": {"required": True, "content": content}}


def query_parameters(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra=`` for a route that reads its query string itself."""
    schema = _schema(model)
    required = set(schema.get("required", ()))
    return {
        "parameters": [
            {"name": name, "in": "query", "required": name in required, "schema": prop}
            for name, prop in schema["properties"].items()
        ]
    }


HTML = {"text/html": {"schema": {"type": "string"}}}
REDIRECT = {
    "description": "Redirect (the Location header).",
    "headers": {"Location": {"schema": {"type": "string"}}},
}


def page(description: str) -> dict[str, Any]:
    """A response that is an HTML page."""
    return {"description": description, "content": HTML}


def bare(description: str) -> dict[str, Any]:
    """A response without a body (RFC 6750 3: the reason is in WWW-Authenticate)."""
    return {"description": description, "headers": {"WWW-Authenticate": {"schema": {}}}}


__all__ = [
    "CLIENT_AUTH",
    "SIGNED_IN",
    "AuthorizationRequest",
    "Introspection",
    "LogoutRequest",
    "OAuthErrorBody",
    "TokenHint",
    "TokenRequest",
    "TokenResponse",
    "bare",
    "form_body",
    "page",
    "oauth_errors",
    "problem_content",
    "query_parameters",
    "security_schemes",
]
