"""Authlib's authorization server, bound to Starlette and the async database.

Authlib's core is synchronous. Routes call it with `anyio.to_thread.run_sync`
and its hooks reach the database with `anyio.from_thread.run`, so neither
Authlib nor its database calls block the event loop.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import anyio.from_thread
from authlib.oauth2.rfc6749 import (
    AuthorizationServer,
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    OAuth2Payload,
    OAuth2Request,
    grants,
)
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from starlette.datastructures import Headers

from seatline.auth import store
from seatline.auth.keys import KeySource
from seatline.auth.oauth_models import Access, Client, Code, Refresh, User
from seatline.auth.revocations import RevokedTokens
from seatline.auth.tokens import (
    KNOWN_SCOPES,
    InvalidToken,
    decode_local_token,
    mint_token,
)
from seatline.booking.services import Services

logger = logging.getLogger(__name__)

# Authlib logs issued tokens at DEBUG level; they must never reach a log.
logging.getLogger("authlib").setLevel(logging.INFO)

T = TypeVar("T")

# Public clients authenticate with "none" (client_id only) and rely on PKCE.
TOKEN_AUTH_METHODS = ("client_secret_basic", "client_secret_post", "none")
SECRET_METHODS = ("client_secret_basic", "client_secret_post")


class FormRequest(OAuth2Request):  # type: ignore[misc]
    """An HTTP request as Authlib reads it, captured from Starlette.

    The body is read in the event loop before the request goes to a thread.
    """

    def __init__(
        self,
        method: str,
        uri: str,
        headers: Headers,
        query: list[tuple[str, str]],
        form: list[tuple[str, str]],
    ) -> None:
        super().__init__(method=method, uri=uri, headers=headers)
        self._args = dict(query)
        self._form = dict(form)
        self.payload = _Payload(query + form)

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


class _Payload(OAuth2Payload):  # type: ignore[misc]
    def __init__(self, items: list[tuple[str, str]]) -> None:
        self._data: dict[str, str] = {}
        self._datalist: dict[str, list[str]] = {}
        for name, value in items:
            self._data.setdefault(name, value)
            self._datalist.setdefault(name, []).append(value)

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> dict[str, list[str]]:
        return self._datalist


@dataclass(frozen=True)
class OAuthResponse:
    status: int
    body: Any
    headers: list[tuple[str, str]]


class RequireS256(CodeChallenge):  # type: ignore[misc]
    """PKCE for every client, with S256 only: `plain` would leak the verifier."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ("S256",)
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError(
                "PKCE is required: send code_challenge with code_challenge_method=S256"
            )
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError(
                "code_challenge_method must be S256; plain is not accepted"
            )
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant: Any, result: Any) -> None:
        if not grant.request.form.get("code_verifier"):
            raise InvalidRequestError("Missing 'code_verifier'")
        super().validate_code_verifier(grant, result)


class CodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_AUTH_METHODS
    server: SeatlineAuthorizationServer

    def save_authorization_code(self, code: str, request: FormRequest) -> None:
        user: User = request.user
        # The client bounds what may be asked for, the account what is given.
        scopes = set(request.scope.split()) & user.scopes
        data = request.payload.data
        self.server.call(
            store.save_authorization_code,
            code,
            client_id=request.client.get_client_id(),
            subject=user.subject,
            redirect_uri=data["redirect_uri"],
            scope=" ".join(sorted(scopes)),
            code_challenge=data["code_challenge"],
            code_challenge_method=data["code_challenge_method"],
        )

    def query_authorization_code(self, code: str, client: Client) -> Code | None:
        record = self.server.call(
            store.find_authorization_code, code, client.get_client_id()
        )
        return None if record is None else Code(record)

    def delete_authorization_code(self, authorization_code: Code) -> None:
        record = authorization_code.record
        if not self.server.call(store.spend_authorization_code, record.code_hash):
            # A concurrent request exchanged the same code.
            self.server.call(store.revoke_family, record.family_id)
            raise InvalidGrantError("the authorization code was already used")

    def authenticate_user(self, authorization_code: Code) -> User | None:
        return self.server.load_user(authorization_code.record.subject)


class RefreshGrant(grants.RefreshTokenGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_AUTH_METHODS
    # Rotation: every use returns a new refresh token and spends the old one.
    INCLUDE_NEW_REFRESH_TOKEN = True
    server: SeatlineAuthorizationServer

    def authenticate_refresh_token(self, refresh_token: str) -> Refresh | None:
        record = self.server.call(store.find_refresh_token, refresh_token)
        return None if record is None else Refresh(record)

    def authenticate_user(self, refresh_token: Refresh) -> User | None:
        return self.server.load_user(refresh_token.record.subject)

    def revoke_old_credential(self, refresh_token: Refresh) -> None:
        record = refresh_token.record
        if not self.server.call(store.spend_refresh_token, record.token_hash):
            self.server.call(store.revoke_family, record.family_id)
            raise InvalidGrantError("the refresh token was already used")


class ClientCredentials(grants.ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = SECRET_METHODS

    def validate_token_request(self) -> None:
        super().validate_token_request()
        if self.client.get_allowed_scope(self.request.payload.scope) is None:
            raise InvalidScopeError("the client may not request these scopes")


class Revocation(RevocationEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = TOKEN_AUTH_METHODS
    server: SeatlineAuthorizationServer

    def query_token(self, token_string: str, token_type_hint: str | None) -> Any:
        return self.server.find_token(token_string, token_type_hint)

    def revoke_token(self, token: Access | Refresh, request: FormRequest) -> None:
        if isinstance(token, Refresh):
            # Revoking a refresh token ends the grant (RFC 7009, section 2.1).
            self.server.call(store.revoke_family, token.record.family_id)
            return
        expires_at = datetime.fromtimestamp(token.claims["exp"], UTC)
        self.server.call(store.revoke_access_token, token.claims["jti"], expires_at)
        if self.server.revoked is not None:
            self.server.revoked.expire()


class Introspection(IntrospectionEndpoint):  # type: ignore[misc]
    # Confidential clients only: public clients have no secret to authenticate with.
    CLIENT_AUTH_METHODS = SECRET_METHODS
    server: SeatlineAuthorizationServer

    def query_token(self, token_string: str, token_type_hint: str | None) -> Any:
        return self.server.find_token(token_string, token_type_hint)

    def check_permission(self, token: Any, client: Client, request: Any) -> bool:
        return True

    def introspect_token(self, token: Access | Refresh) -> dict[str, Any]:
        return token.introspection(self.server.services.settings.jwt_issuer)


class SeatlineAuthorizationServer(AuthorizationServer):  # type: ignore[misc]
    def __init__(
        self,
        services: Services,
        keys: KeySource,
        revoked: RevokedTokens | None = None,
    ) -> None:
        super().__init__(scopes_supported=sorted(KNOWN_SCOPES))
        self.services = services
        self.keys = keys
        self.revoked = revoked
        self.register_token_generator("default", self._generate_token)
        self.register_grant(CodeGrant, [RequireS256()])
        self.register_grant(RefreshGrant)
        self.register_grant(ClientCredentials)
        self.register_endpoint(Revocation(self))
        self.register_endpoint(Introspection(self))

    def call(
        self, function: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any
    ) -> T:
        """Run an async store function on the event loop from this thread."""

        async def run() -> T:
            return await function(self.services, *args, **kwargs)

        return anyio.from_thread.run(run)

    def query_client(self, client_id: str) -> Client | None:
        record = self.call(store.get_client, client_id)
        return None if record is None else Client(record)

    def load_user(self, subject: str) -> User | None:
        account = self.call(store.get_account, subject)
        if account is None:
            return None
        return User(account.subject, frozenset(account.scopes))

    def save_token(self, token: dict[str, Any], request: FormRequest) -> None:
        refresh_token = token.get("refresh_token")
        if refresh_token is None:
            return
        if request.authorization_code is not None:
            family_id = request.authorization_code.record.family_id
        else:
            family_id = request.refresh_token.record.family_id
        self.call(
            store.save_refresh_token,
            refresh_token,
            family_id=family_id,
            client_id=request.client.get_client_id(),
            subject=request.user.subject,
            scope=token["scope"],
        )

    def find_token(self, token: str, hint: str | None) -> Access | Refresh | None:
        """Return the access or refresh token for introspection or revocation."""
        if hint != "refresh_token" and token.count(".") == 2:
            access = self._find_access_token(token)
            if access is not None or hint == "access_token":
                return access
        record = self.call(store.load_refresh_token, token)
        return None if record is None else Refresh(record)

    def _find_access_token(self, token: str) -> Access | None:
        settings = self.services.settings
        try:
            claims = decode_local_token(
                self.keys.current(),
                token,
                issuer=settings.jwt_issuer,
                audience=settings.jwt_audience,
                leeway_seconds=settings.jwt_leeway_seconds,
            )
        except InvalidToken:
            return None
        revoked = self.call(store.is_access_token_revoked, str(claims["jti"]))
        return Access(claims, revoked)

    def _generate_token(
        self,
        grant_type: str,
        client: Client,
        user: User | None = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        settings = self.services.settings
        if grant_type == "client_credentials":
            scope = client.get_allowed_scope(scope)
        scope = scope or ""
        lifetime = settings.access_token_lifetime_seconds
        access_token = mint_token(
            self.keys.current(),
            subject=client.get_client_id() if user is None else user.subject,
            scopes=scope.split(),
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            lifetime_seconds=lifetime,
            client_id=client.get_client_id(),
        )
        token = {
            "token_type": "Bearer",
            "access_token": access_token,
            "expires_in": lifetime,
            "scope": scope,
        }
        if include_refresh_token:
            token["refresh_token"] = secrets.token_urlsafe(32)
        return token

    def create_oauth2_request(self, request: Any) -> FormRequest:
        if not isinstance(request, FormRequest):
            raise TypeError("pass a FormRequest captured from the Starlette request")
        return request

    def create_json_request(self, request: Any) -> Any:
        raise NotImplementedError("no seatline endpoint takes a JSON request")

    def handle_response(
        self, status: int, body: Any, headers: list[tuple[str, str]]
    ) -> OAuthResponse:
        return OAuthResponse(status, body, list(headers))

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        # Authlib's signals feed Flask and Django; outcomes are logged by
        # the routes instead.
        return None
