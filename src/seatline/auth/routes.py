"""HTTP endpoints of the authorization server.

/oauth/authorize (sign-in and consent), /oauth/token, /oauth/revoke
(RFC 7009), /oauth/introspect (RFC 7662), /oauth/register and
/.well-known/oauth-authorization-server (RFC 8414).
"""

from __future__ import annotations

import logging
import secrets
from typing import Any
from urllib.parse import quote

import anyio.to_thread
import orjson
from authlib.oauth2.rfc6749 import OAuth2Error
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from seatline.auth import accounts, pages
from seatline.auth.oauth_models import User
from seatline.auth.server import FormRequest, OAuthResponse, SeatlineAuthorizationServer
from seatline.auth.tokens import KNOWN_SCOPES
from seatline.booking.errors import BookingError

logger = logging.getLogger(__name__)

CSRF_COOKIE = "seatline_csrf"
# Form fields of the sign-in page, kept out of the request passed to Authlib.
PAGE_FIELDS = frozenset({"email", "password", "csrf_token", "decision"})
MAX_FORM_FIELDS = 50


def routes(server: SeatlineAuthorizationServer) -> list[Route]:
    endpoints = _Endpoints(server)
    return [
        Route("/oauth/authorize", endpoints.authorize, methods=["GET", "POST"]),
        Route("/oauth/token", endpoints.token, methods=["POST"]),
        Route("/oauth/revoke", endpoints.revoke, methods=["POST"]),
        Route("/oauth/introspect", endpoints.introspect, methods=["POST"]),
        Route("/oauth/register", endpoints.register, methods=["GET", "POST"]),
        Route("/.well-known/oauth-authorization-server", endpoints.metadata),
    ]


async def capture(request: Request) -> FormRequest:
    """Read the request, body included, for Authlib to use in a thread."""
    form: list[tuple[str, str]] = []
    if request.method == "POST":
        data = await request.form(max_fields=MAX_FORM_FIELDS, max_files=0)
        for name, value in data.multi_items():
            if isinstance(value, UploadFile) or name in PAGE_FIELDS:
                continue
            form.append((name, value))
    return FormRequest(
        request.method,
        str(request.url),
        request.headers,
        list(request.query_params.multi_items()),
        form,
    )


def to_response(result: OAuthResponse) -> Response:
    headers = dict(result.headers)
    if isinstance(result.body, dict):
        return Response(orjson.dumps(result.body), result.status, headers=headers)
    return Response(result.body or b"", result.status, headers=headers)


class _Endpoints:
    def __init__(self, server: SeatlineAuthorizationServer) -> None:
        self.server = server
        self.services = server.services

    async def token(self, request: Request) -> Response:
        captured = await capture(request)
        result = await anyio.to_thread.run_sync(
            self.server.create_token_response, captured
        )
        _log_outcome("token", captured, result)
        return to_response(result)

    async def revoke(self, request: Request) -> Response:
        captured = await capture(request)
        result = await anyio.to_thread.run_sync(
            self.server.create_endpoint_response, "revocation", captured
        )
        _log_outcome("revocation", captured, result)
        return to_response(result)

    async def introspect(self, request: Request) -> Response:
        captured = await capture(request)
        result = await anyio.to_thread.run_sync(
            self.server.create_endpoint_response, "introspection", captured
        )
        return to_response(result)

    async def metadata(self, request: Request) -> Response:
        settings = self.services.settings
        base = (settings.public_url or str(request.base_url)).rstrip("/")
        secret_methods = ["client_secret_basic", "client_secret_post"]
        document = {
            "issuer": settings.jwt_issuer,
            "authorization_endpoint": f"{base}/oauth/authorize",
            "token_endpoint": f"{base}/oauth/token",
            "revocation_endpoint": f"{base}/oauth/revoke",
            "introspection_endpoint": f"{base}/oauth/introspect",
            "jwks_uri": f"{base}/.well-known/jwks.json",
            "scopes_supported": sorted(KNOWN_SCOPES),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": [
                "authorization_code",
                "client_credentials",
                "refresh_token",
            ],
            "token_endpoint_auth_methods_supported": [*secret_methods, "none"],
            "revocation_endpoint_auth_methods_supported": [*secret_methods, "none"],
            "introspection_endpoint_auth_methods_supported": secret_methods,
            "code_challenge_methods_supported": ["S256"],
        }
        return JSONResponse(document, headers={"Cache-Control": "public, max-age=300"})

    async def authorize(self, request: Request) -> Response:
        captured = await capture(request)
        try:
            grant = await anyio.to_thread.run_sync(
                self.server.get_consent_grant, captured
            )
        except OAuth2Error as error:
            return self._authorization_error(captured, error)

        csrf_token = _csrf_token(request)
        if request.method == "GET":
            return self._sign_in(request, grant, csrf_token)

        form = await request.form()
        if not _csrf_matches(request, form.get("csrf_token")):
            return self._sign_in(
                request,
                grant,
                csrf_token,
                error="The form expired. Sign in again.",
                status=403,
            )
        if form.get("decision") != "allow":
            return await self._respond(captured, None, grant)

        email = str(form.get("email") or "")
        try:
            account = await accounts.authenticate(
                self.services,
                email,
                str(form.get("password") or ""),
                address=_address(request),
            )
        except accounts.SignInFailed:
            return self._sign_in(
                request,
                grant,
                csrf_token,
                email=email,
                error="Wrong email or password.",
                status=401,
            )
        except accounts.SignInThrottled as throttled:
            minutes = max(1, throttled.retry_after_seconds // 60)
            response = self._sign_in(
                request,
                grant,
                csrf_token,
                email=email,
                error=f"Too many failed sign-ins. Try again in {minutes} minutes.",
                status=429,
            )
            response.headers["Retry-After"] = str(throttled.retry_after_seconds)
            return response

        user = User(account.subject, frozenset(account.scopes))
        logger.info(
            "authorized client",
            extra={"client_id": grant.client.get_client_id(), "sub": user.subject},
        )
        return await self._respond(captured, user, grant)

    async def _respond(
        self, captured: FormRequest, user: User | None, grant: Any
    ) -> Response:
        result = await anyio.to_thread.run_sync(
            self.server.create_authorization_response, captured, user, grant
        )
        return to_response(result)

    def _authorization_error(
        self, captured: FormRequest, error: OAuth2Error
    ) -> Response:
        if error.redirect_uri:
            # The client and its redirect URI are known: tell the client.
            return to_response(self.server.handle_error_response(captured, error))
        # Never redirect to an unverified URI; tell the person instead.
        description = error.description or error.error
        return pages.message_page(
            "This sign-in link is not valid",
            f"{description} Go back to the application and try again.",
            status=400,
        )

    def _sign_in(
        self,
        request: Request,
        grant: Any,
        csrf_token: str,
        *,
        email: str = "",
        error: str | None = None,
        status: int = 200,
    ) -> Response:
        action = f"{request.url.path}?{request.url.query}"
        response = pages.sign_in_page(
            action=action,
            client_name=grant.client.record.name,
            scopes=grant.request.scope.split(),
            csrf_token=csrf_token,
            register_url=f"/oauth/register?next={quote(action, safe='')}",
            email=email,
            error=error,
            status=status,
        )
        _set_csrf_cookie(request, response, csrf_token)
        return response

    async def register(self, request: Request) -> Response:
        csrf_token = _csrf_token(request)
        next_url = request.query_params.get("next", "")
        # Only back to the sign-in page: anything else is an open redirect.
        if not next_url.startswith("/oauth/authorize?"):
            next_url = ""
        action = f"/oauth/register?next={quote(next_url, safe='')}"
        if request.method == "GET":
            response = pages.register_page(action=action, csrf_token=csrf_token)
            _set_csrf_cookie(request, response, csrf_token)
            return response

        form = await request.form()
        email = str(form.get("email") or "")
        error = None
        status = 400
        if not _csrf_matches(request, form.get("csrf_token")):
            error, status = "The form expired. Submit it again.", 403
        else:
            try:
                await accounts.register_account(
                    self.services,
                    email,
                    str(form.get("password") or ""),
                    address=_address(request),
                )
            except BookingError as failure:
                error = failure.message
                status = 429 if failure.code.value == "LIMIT_EXCEEDED" else 400
        if error is not None:
            response = pages.register_page(
                action=action,
                csrf_token=csrf_token,
                email=email,
                error=error,
                status=status,
            )
            _set_csrf_cookie(request, response, csrf_token)
            return response
        if next_url:
            return RedirectResponse(next_url, status_code=303)
        return pages.message_page(
            "Account created", "You can now sign in from the application.", status=201
        )


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _csrf_token(request: Request) -> str:
    existing = request.cookies.get(CSRF_COOKIE, "")
    if (
        40 <= len(existing) <= 64
        and existing.replace("-", "").replace("_", "").isalnum()
    ):
        return existing
    return secrets.token_urlsafe(32)


def _csrf_matches(request: Request, submitted: object) -> bool:
    cookie = request.cookies.get(CSRF_COOKIE)
    if not cookie or not isinstance(submitted, str):
        return False
    return secrets.compare_digest(cookie, submitted)


def _set_csrf_cookie(request: Request, response: Response, token: str) -> None:
    # Double-submit: a cross-site form cannot read this cookie to copy it
    # into the form, and SameSite=Strict keeps it off cross-site requests.
    response.set_cookie(
        CSRF_COOKIE,
        token,
        path="/oauth",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def _log_outcome(endpoint: str, captured: FormRequest, result: OAuthResponse) -> None:
    # Only the client and grant type: never a token, code or secret.
    client = captured.client
    extra = {
        "endpoint": endpoint,
        "status": result.status,
        "grant_type": captured.form.get("grant_type"),
        "client_id": None if client is None else client.get_client_id(),
    }
    if result.status >= 400 and isinstance(result.body, dict):
        extra["error"] = result.body.get("error")
        logger.info("OAuth request rejected", extra=extra)
    else:
        logger.info("OAuth request served", extra=extra)
