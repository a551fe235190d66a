"""Adapters from seatline's records to the model interfaces Authlib expects."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from authlib.oauth2.rfc6749 import (
    AuthorizationCodeMixin,
    ClientMixin,
    TokenMixin,
    scope_to_list,
)

from seatline.auth.clients import secret_matches
from seatline.models import AuthorizationCode, ClientType, OAuthClient, RefreshToken

SECRET_AUTH_METHODS = ("client_secret_basic", "client_secret_post")


@dataclass(frozen=True)
class User:
    """The resource owner of an authorization code or refresh token."""

    subject: str
    scopes: frozenset[str]

    def get_user_id(self) -> str:
        return self.subject


@dataclass(frozen=True)
class Client(ClientMixin):  # type: ignore[misc]
    record: OAuthClient

    def get_client_id(self) -> str:
        return self.record.client_id

    def get_default_redirect_uri(self) -> None:
        # Every authorization request must name its redirect URI, and it must
        # match a registered one exactly.
        return None

    def get_allowed_scope(self, scope: str | None) -> str | None:
        """Return the requested scopes, or all of the client's when none are.

        Return None (invalid_scope) when the request exceeds the client's
        scopes, because a silent narrowing would hide a misconfigured client.
        """
        requested = scope_to_list(scope) or list(self.record.scopes)
        if not set(requested) <= set(self.record.scopes):
            return None
        return " ".join(sorted(set(requested)))

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.record.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return secret_matches(self.record, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.record.client_type is ClientType.PUBLIC:
            return method == "none"
        return method in SECRET_AUTH_METHODS

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and self.check_grant_type("authorization_code")

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.record.grant_types


@dataclass(frozen=True)
class Code(AuthorizationCodeMixin):  # type: ignore[misc]
    record: AuthorizationCode

    @property
    def code_challenge(self) -> str:
        return self.record.code_challenge

    @property
    def code_challenge_method(self) -> str:
        return self.record.code_challenge_method

    def get_redirect_uri(self) -> str:
        return self.record.redirect_uri

    def get_scope(self) -> str:
        return self.record.scope


@dataclass(frozen=True)
class Refresh(TokenMixin):  # type: ignore[misc]
    record: RefreshToken

    def check_client(self, client: Client) -> bool:
        return self.record.client_id == client.get_client_id()

    def get_scope(self) -> str:
        return self.record.scope

    def get_expires_in(self) -> int:
        return max(0, int(self.record.expires_at.timestamp() - time.time()))

    def is_expired(self) -> bool:
        return self.record.expires_at.timestamp() <= time.time()

    def is_revoked(self) -> bool:
        return self.record.revoked_at is not None or self.record.used_at is not None

    def introspection(self, issuer: str) -> dict[str, Any]:
        return {
            "active": True,
            "token_type": "refresh_token",
            "scope": self.record.scope,
            "client_id": self.record.client_id,
            "sub": self.record.subject,
            "iss": issuer,
            "iat": int(self.record.issued_at.timestamp()),
            "exp": int(self.record.expires_at.timestamp()),
        }


@dataclass(frozen=True)
class Access(TokenMixin):  # type: ignore[misc]
    """A verified access token of the local issuer."""

    claims: dict[str, Any]
    revoked: bool

    def check_client(self, client: Client) -> bool:
        return bool(self.claims.get("client_id") == client.get_client_id())

    def get_scope(self) -> str:
        return str(self.claims.get("scope", ""))

    def get_expires_in(self) -> int:
        return max(0, int(self.claims["exp"] - time.time()))

    def is_expired(self) -> bool:
        return bool(self.claims["exp"] <= time.time())

    def is_revoked(self) -> bool:
        return self.revoked

    def introspection(self, issuer: str) -> dict[str, Any]:
        names = ("scope", "client_id", "sub", "aud", "iss", "exp", "iat", "nbf", "jti")
        payload = {name: self.claims[name] for name in names if name in self.claims}
        return {"active": True, "token_type": "Bearer", **payload}
