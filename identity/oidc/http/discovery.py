"""OIDC Discovery 1.0 metadata and the provider's JWK Set (OIDC Core 10.1.1)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from core.clock import utcnow
from core.deps import SessionDep
from core.i18n import LOCALES
from core.inputs import OutsideTextRoute
from core.openapi import problems
from identity import accounts, jose, keys
from identity.oidc.claims import RP_SCOPES
from identity.services import ServicesDep

router = APIRouter(route_class=OutsideTextRoute)


@router.get("/.well-known/openid-configuration", summary="OpenID Provider metadata")
async def discovery(services: ServicesDep) -> JSONResponse:
    """OIDC Discovery 1.0 section 3."""
    issuer = services.settings.issuer
    return JSONResponse(
        {
            "issuer": issuer,
            "authorization_endpoint": issuer + "/authorize",
            "token_endpoint": issuer + "/token",
            "userinfo_endpoint": issuer + "/userinfo",
            "jwks_uri": issuer + "/jwks",
            "revocation_endpoint": issuer + "/revoke",
            "introspection_endpoint": issuer + "/introspect",
            "end_session_endpoint": issuer + "/logout",
            # RFC 9126 5: PAR for every client; required of those registered for it (and of
            # every fapi2 client), not of all.
            "pushed_authorization_request_endpoint": issuer + "/par",
            "require_pushed_authorization_requests": False,
            # RFC 9449 5.1: the algorithms a DPoP proof may be signed with.
            "dpop_signing_alg_values_supported": list(jose.DPOP_ALGS),
            # Only what the authorization endpoint grants; agency scopes are client_credentials'.
            "scopes_supported": list(RP_SCOPES),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256", "ES256"],
            "token_endpoint_auth_methods_supported": [
                "client_secret_basic",
                "client_secret_post",
                "private_key_jwt",
            ],
            "token_endpoint_auth_signing_alg_values_supported": ["RS256", "PS256", "ES256"],
            "tls_client_certificate_bound_access_tokens": False,
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": [
                "sub",
                "iss",
                "aud",
                "exp",
                "iat",
                "auth_time",
                "nonce",
                "acr",
                "amr",
                "at_hash",
                "sid",
                "name",
                "family_name",
                "given_name",
                "middle_name",
                "birthdate",
                "gender",
                "address",
                "national_id",
            ],
            "claims_parameter_supported": True,
            "request_parameter_supported": False,
            # Only the request_uri of a pushed request (RFC 9126 4), none of the client's own.
            "request_uri_parameter_supported": False,
            "acr_values_supported": list(accounts.ACR_VALUES),
            "ui_locales_supported": list(LOCALES),
            "prompt_values_supported": ["none", "login", "consent"],
            "authorization_response_iss_parameter_supported": True,
            "revocation_endpoint_auth_methods_supported": [
                "client_secret_basic",
                "client_secret_post",
                "private_key_jwt",
            ],
            "introspection_endpoint_auth_methods_supported": [
                "client_secret_basic",
                "client_secret_post",
                "private_key_jwt",
            ],
            "revocation_endpoint_auth_signing_alg_values_supported": ["RS256", "PS256", "ES256"],
            "introspection_endpoint_auth_signing_alg_values_supported": [
                "RS256",
                "PS256",
                "ES256",
            ],
        },
        headers={"Cache-Control": "public, max-age=300"},
    )


@router.get(
    "/jwks", summary="The provider's public signing keys (JWK Set)", responses=problems(503)
)
async def jwks(session: SessionDep) -> JSONResponse:
    """OIDC Core 10.1.1: active keys and retired keys still verifying live tokens."""
    return JSONResponse(
        await keys.jwks(session, utcnow()), headers={"Cache-Control": "public, max-age=60"}
    )
