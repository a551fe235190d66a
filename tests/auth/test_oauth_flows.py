"""OAuth2 flows against a real `seatline serve`, driven by Authlib's httpx client.

One server per database backend serves the whole module; every test makes
its own clients and accounts, so tests do not share grants.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import pytest
from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuthError
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from broadcaster import Broadcast

from seatline.auth.accounts import register_account
from seatline.auth.clients import ClientRequest, CreatedClient, create_client
from seatline.auth.keys import KeyStore
from seatline.booking.services import Services
from seatline.models import ClientType
from seatline.runtime import build_services
from tests.conftest import AUDIENCE, ISSUER, DatabaseUnderTest, settings_for
from tests.live import live_server

pytestmark = pytest.mark.slow

REDIRECT_URI = "http://127.0.0.1:9/callback"
PASSWORD = "correct horse battery"
WHO_AM_I = "query { events(first: 1) { edges { node { id } } } }"
ORDER = 'query { order(id: "00000000-0000-0000-0000-000000000000") { id } }'


@dataclass
class Deployment:
    url: str
    services: Services

    @property
    def token_url(self) -> str:
        return f"{self.url}/oauth/token"

    async def client(
        self,
        client_type: ClientType = ClientType.PUBLIC,
        grants: tuple[str, ...] = ("authorization_code", "refresh_token"),
        scopes: tuple[str, ...] = ("events:read", "bookings:write", "orders:read"),
    ) -> CreatedClient:
        request = ClientRequest(
            name="Box office app",
            client_type=client_type,
            grant_types=list(grants),
            redirect_uris=[REDIRECT_URI] if "authorization_code" in grants else [],
            scopes=list(scopes),
        )
        return await create_client(self.services, request, created_by="test")

    async def buyer(self) -> str:
        email = f"buyer-{secrets.token_hex(4)}@example.com"
        await register_account(self.services, email, PASSWORD, address="test")
        return email


@pytest.fixture(scope="module")
async def deployment(
    oauth_database: DatabaseUnderTest, keys: KeyStore, key_file: Path
) -> AsyncIterator[Deployment]:
    broadcast = Broadcast("memory://")
    services = build_services(
        settings_for(oauth_database, key_file), oauth_database.engine, broadcast, keys
    )
    async with live_server(
        oauth_database.url, key_file, issuer=ISSUER, audience=AUDIENCE
    ) as url:
        yield Deployment(url, services)


def oauth_client(
    deployment: Deployment, created: CreatedClient, **kwargs: Any
) -> AsyncOAuth2Client:
    method = "none" if created.secret is None else "client_secret_basic"
    return AsyncOAuth2Client(
        client_id=created.client.client_id,
        client_secret=created.secret,
        token_endpoint_auth_method=method,
        revocation_endpoint_auth_method=method,
        code_challenge_method="S256",
        redirect_uri=REDIRECT_URI,
        base_url=deployment.url,
        **kwargs,
    )


def form_fields(html: str) -> tuple[str, str]:
    """Return the sign-in form's action and CSRF token."""
    action = re.search(r'<form method="post" action="([^"]+)"', html)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert action, html
    assert csrf, html
    return action.group(1).replace("&amp;", "&"), csrf.group(1)


async def sign_in(
    deployment: Deployment,
    authorization_url: str,
    email: str,
    password: str = PASSWORD,
    decision: str = "allow",
) -> httpx.Response:
    """Open the sign-in page like a browser and submit it."""
    async with httpx.AsyncClient(base_url=deployment.url) as browser:
        page = await browser.get(authorization_url)
        assert page.status_code == 200, page.text
        action, csrf = form_fields(page.text)
        return await browser.post(
            urljoin(deployment.url, action),
            data={
                "email": email,
                "password": password,
                "csrf_token": csrf,
                "decision": decision,
            },
        )


async def authorize(
    deployment: Deployment, client: AsyncOAuth2Client, email: str, verifier: str
) -> tuple[str, str]:
    """Return the redirect with the code, and the state sent."""
    url, state = client.create_authorization_url(
        f"{deployment.url}/oauth/authorize", code_verifier=verifier
    )
    response = await sign_in(deployment, url, email)
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(REDIRECT_URI)
    return location, state


async def graphql(deployment: Deployment, token: str, query: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=deployment.url) as http:
        return await http.post(
            "/graphql",
            json={"query": query},
            headers={"Authorization": f"Bearer {token}"},
        )


def query_params(url: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


async def test_authorization_code_with_pkce(deployment: Deployment) -> None:
    created = await deployment.client()
    email = await deployment.buyer()
    verifier = secrets.token_urlsafe(48)

    async with oauth_client(
        deployment, created, scope="bookings:write orders:read"
    ) as client:
        location, state = await authorize(deployment, client, email, verifier)
        token = await client.fetch_token(
            deployment.token_url,
            authorization_response=location,
            code_verifier=verifier,
            state=state,
        )

    assert token["token_type"].lower() == "bearer"
    assert token["scope"] == "bookings:write orders:read"
    assert token["expires_in"] == 600
    assert token["refresh_token"]
    response = await graphql(deployment, token["access_token"], ORDER)
    assert response.status_code == 200, response.text
    assert response.json() == {"data": {"order": None}}


async def test_access_token_claims(deployment: Deployment) -> None:
    created = await deployment.client()
    token = await exchange_code(deployment, created)

    introspection = await introspect(deployment, token["access_token"])

    assert introspection["active"] is True
    assert introspection["iss"] == ISSUER
    assert introspection["aud"] == AUDIENCE
    assert introspection["client_id"] == created.client.client_id
    assert introspection["scope"] == "bookings:write events:read orders:read"
    assert introspection["exp"] - introspection["iat"] == 600
    assert introspection["jti"]
    assert re.fullmatch(r"[0-9a-f-]{36}", introspection["sub"])


async def test_deny_redirects_with_access_denied(deployment: Deployment) -> None:
    created = await deployment.client()
    email = await deployment.buyer()
    async with oauth_client(deployment, created) as client:
        url, state = client.create_authorization_url(
            f"{deployment.url}/oauth/authorize", code_verifier=secrets.token_urlsafe(48)
        )
    response = await sign_in(deployment, url, email, decision="deny")

    assert response.status_code == 302
    params = query_params(response.headers["location"])
    assert params["error"] == "access_denied"
    assert params["state"] == state
    assert "code" not in params


async def test_wrong_password_shows_form_again(deployment: Deployment) -> None:
    created = await deployment.client()
    email = await deployment.buyer()
    async with oauth_client(deployment, created) as client:
        url, _ = client.create_authorization_url(
            f"{deployment.url}/oauth/authorize", code_verifier=secrets.token_urlsafe(48)
        )
    response = await sign_in(deployment, url, email, password="not the password")

    assert response.status_code == 401
    assert 'role="alert"' in response.text
    assert "Wrong email or password." in response.text
    assert "not the password" not in response.text


async def test_sign_in_without_csrf_token_is_rejected(deployment: Deployment) -> None:
    created = await deployment.client()
    email = await deployment.buyer()
    async with oauth_client(deployment, created) as client:
        url, _ = client.create_authorization_url(
            f"{deployment.url}/oauth/authorize", code_verifier=secrets.token_urlsafe(48)
        )
    async with httpx.AsyncClient(base_url=deployment.url) as browser:
        response = await browser.post(
            url, data={"email": email, "password": PASSWORD, "decision": "allow"}
        )

    assert response.status_code == 403
    assert "location" not in response.headers


async def test_client_credentials(deployment: Deployment) -> None:
    created = await deployment.client(
        ClientType.CONFIDENTIAL,
        grants=("client_credentials",),
        scopes=("events:read", "partner:stream"),
    )
    async with oauth_client(deployment, created, scope="partner:stream") as client:
        token = await client.fetch_token(
            deployment.token_url, grant_type="client_credentials"
        )

    assert token["scope"] == "partner:stream"
    assert "refresh_token" not in token
    introspection = await introspect(deployment, token["access_token"])
    assert introspection["sub"] == created.client.client_id


async def test_client_credentials_beyond_allowed_scope(deployment: Deployment) -> None:
    created = await deployment.client(
        ClientType.CONFIDENTIAL, grants=("client_credentials",), scopes=("events:read",)
    )
    async with oauth_client(deployment, created, scope="admin") as client:
        with pytest.raises(OAuthError) as raised:
            await client.fetch_token(
                deployment.token_url, grant_type="client_credentials"
            )

    assert raised.value.error == "invalid_scope"


async def test_client_credentials_wrong_secret(deployment: Deployment) -> None:
    created = await deployment.client(
        ClientType.CONFIDENTIAL, grants=("client_credentials",), scopes=("events:read",)
    )
    async with AsyncOAuth2Client(
        client_id=created.client.client_id, client_secret="wrong"
    ) as client:
        with pytest.raises(OAuthError) as raised:
            await client.fetch_token(
                deployment.token_url, grant_type="client_credentials"
            )

    assert raised.value.error == "invalid_client"


async def exchange_code(
    deployment: Deployment, created: CreatedClient
) -> dict[str, Any]:
    email = await deployment.buyer()
    verifier = secrets.token_urlsafe(48)
    async with oauth_client(deployment, created) as client:
        location, _ = await authorize(deployment, client, email, verifier)
        token: dict[str, Any] = await client.fetch_token(
            deployment.token_url,
            authorization_response=location,
            code_verifier=verifier,
        )
    return token


async def refresh(
    deployment: Deployment, created: CreatedClient, refresh_token: str
) -> dict[str, Any]:
    async with oauth_client(deployment, created) as client:
        token: dict[str, Any] = await client.refresh_token(
            deployment.token_url, refresh_token=refresh_token
        )
    return token


async def test_refresh_rotates_token(deployment: Deployment) -> None:
    created = await deployment.client()
    first = await exchange_code(deployment, created)

    second = await refresh(deployment, created, first["refresh_token"])
    third = await refresh(deployment, created, second["refresh_token"])

    assert (
        len({first["refresh_token"], second["refresh_token"], third["refresh_token"]})
        == 3
    )
    assert third["scope"] == first["scope"]
    response = await graphql(deployment, third["access_token"], ORDER)
    assert response.json() == {"data": {"order": None}}


async def test_refresh_reuse_revokes_family(deployment: Deployment) -> None:
    created = await deployment.client()
    first = await exchange_code(deployment, created)
    second = await refresh(deployment, created, first["refresh_token"])

    with pytest.raises(OAuthError) as reused:
        await refresh(deployment, created, first["refresh_token"])
    with pytest.raises(OAuthError) as after:
        await refresh(deployment, created, second["refresh_token"])

    assert reused.value.error == "invalid_grant"
    # The legitimate holder's newer token died with the family.
    assert after.value.error == "invalid_grant"


async def test_refresh_by_other_client_fails(deployment: Deployment) -> None:
    created = await deployment.client()
    other = await deployment.client()
    token = await exchange_code(deployment, created)

    with pytest.raises(OAuthError) as raised:
        await refresh(deployment, other, token["refresh_token"])

    assert raised.value.error == "invalid_grant"
    # The owner can still use it: a stranger's attempt is not a reuse.
    assert (await refresh(deployment, created, token["refresh_token"]))["access_token"]


async def test_revoke_refresh_token(deployment: Deployment) -> None:
    created = await deployment.client()
    token = await exchange_code(deployment, created)

    async with oauth_client(deployment, created) as client:
        response = await client.revoke_token(
            f"{deployment.url}/oauth/revoke",
            token=token["refresh_token"],
            token_type_hint="refresh_token",
        )
    assert response.status_code == 200

    with pytest.raises(OAuthError) as raised:
        await refresh(deployment, created, token["refresh_token"])
    assert raised.value.error == "invalid_grant"


async def test_revoke_access_token(deployment: Deployment) -> None:
    created = await deployment.client()
    token = await exchange_code(deployment, created)
    assert (await introspect(deployment, token["access_token"]))["active"] is True

    async with oauth_client(deployment, created) as client:
        response = await client.revoke_token(
            f"{deployment.url}/oauth/revoke",
            token=token["access_token"],
            token_type_hint="access_token",
        )

    assert response.status_code == 200
    assert await introspect(deployment, token["access_token"]) == {"active": False}
    refused = await graphql(deployment, token["access_token"], ORDER)
    assert refused.status_code == 401


async def test_introspect_refresh_token(deployment: Deployment) -> None:
    created = await deployment.client()
    token = await exchange_code(deployment, created)

    active = await introspect(deployment, token["refresh_token"])
    await refresh(deployment, created, token["refresh_token"])
    spent = await introspect(deployment, token["refresh_token"])

    assert active["active"] is True
    assert active["token_type"] == "refresh_token"
    assert active["client_id"] == created.client.client_id
    assert spent == {"active": False}


async def test_introspection_rejects_public_client(deployment: Deployment) -> None:
    created = await deployment.client()
    token = await exchange_code(deployment, created)

    async with oauth_client(deployment, created) as client:
        response = await client.introspect_token(
            f"{deployment.url}/oauth/introspect", token=token["access_token"]
        )

    assert response.status_code in (400, 401)
    assert response.json()["error"] == "invalid_client"


async def test_introspect_unknown_token(deployment: Deployment) -> None:
    assert await introspect(deployment, "not-a-token") == {"active": False}


_introspector: dict[str, CreatedClient] = {}


async def introspect(deployment: Deployment, token: str) -> dict[str, Any]:
    """Introspect as a confidential resource-server client."""
    key = deployment.url
    if key not in _introspector:
        _introspector[key] = await deployment.client(
            ClientType.CONFIDENTIAL,
            grants=("client_credentials",),
            scopes=("events:read",),
        )
    created = _introspector[key]
    async with oauth_client(deployment, created) as client:
        response = await client.introspect_token(
            f"{deployment.url}/oauth/introspect", token=token
        )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_metadata_document(deployment: Deployment) -> None:
    async with httpx.AsyncClient(base_url=deployment.url) as http:
        response = await http.get("/.well-known/oauth-authorization-server")

    document = response.json()
    assert document["issuer"] == ISSUER
    assert document["token_endpoint"] == f"{deployment.url}/oauth/token"
    assert document["jwks_uri"] == f"{deployment.url}/.well-known/jwks.json"
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert "implicit" not in document["grant_types_supported"]
    assert "password" not in document["grant_types_supported"]
    assert document["response_types_supported"] == ["code"]


# Rejections


async def test_pkce_wrong_verifier(deployment: Deployment) -> None:
    created = await deployment.client()
    email = await deployment.buyer()
    async with oauth_client(deployment, created) as client:
        location, _ = await authorize(
            deployment, client, email, secrets.token_urlsafe(48)
        )
        with pytest.raises(OAuthError) as raised:
            await client.fetch_token(
                deployment.token_url,
                authorization_response=location,
                code_verifier=secrets.token_urlsafe(48),
            )

    assert raised.value.error == "invalid_grant"


async def test_pkce_missing_verifier(deployment: Deployment) -> None:
    created = await deployment.client()
    email = await deployment.buyer()
    async with oauth_client(deployment, created) as client:
        location, _ = await authorize(
            deployment, client, email, secrets.token_urlsafe(48)
        )
        with pytest.raises(OAuthError) as raised:
            await client.fetch_token(
                deployment.token_url, authorization_response=location
            )

    assert raised.value.error == "invalid_request"


@pytest.mark.parametrize("method", ["plain", None])
async def test_pkce_method_must_be_s256(
    deployment: Deployment, method: str | None
) -> None:
    created = await deployment.client()
    verifier = secrets.token_urlsafe(48)
    params: dict[str, str] = {
        "response_type": "code",
        "client_id": created.client.client_id,
        "redirect_uri": REDIRECT_URI,
        "state": "s1",
        "code_challenge": verifier
        if method == "plain"
        else create_s256_code_challenge(verifier),
    }
    if method is not None:
        params["code_challenge_method"] = method
    async with httpx.AsyncClient(base_url=deployment.url) as browser:
        response = await browser.get("/oauth/authorize", params=params)

    assert response.status_code == 302
    redirect = query_params(response.headers["location"])
    assert redirect["error"] == "invalid_request"
    assert redirect["state"] == "s1"


async def test_pkce_required(deployment: Deployment) -> None:
    created = await deployment.client()
    async with oauth_client(deployment, created) as client:
        url, _ = client.create_authorization_url(f"{deployment.url}/oauth/authorize")
    async with httpx.AsyncClient() as browser:
        response = await browser.get(url)

    assert response.status_code == 302
    assert query_params(response.headers["location"])["error"] == "invalid_request"


async def test_unregistered_redirect_uri_is_not_followed(
    deployment: Deployment,
) -> None:
    created = await deployment.client()
    async with oauth_client(deployment, created) as client:
        url, _ = client.create_authorization_url(
            f"{deployment.url}/oauth/authorize",
            code_verifier=secrets.token_urlsafe(48),
            redirect_uri=REDIRECT_URI + "/extra",
        )
    async with httpx.AsyncClient() as browser:
        response = await browser.get(url)

    assert response.status_code == 400
    assert "location" not in response.headers
    assert "not valid" in response.text


async def test_token_request_with_other_redirect_uri(deployment: Deployment) -> None:
    created = await deployment.client()
    email = await deployment.buyer()
    verifier = secrets.token_urlsafe(48)
    async with oauth_client(deployment, created) as client:
        location, _ = await authorize(deployment, client, email, verifier)
        with pytest.raises(OAuthError) as raised:
            await client.fetch_token(
                deployment.token_url,
                authorization_response=location,
                code_verifier=verifier,
                redirect_uri="http://127.0.0.1:9/other",
            )

    assert raised.value.error == "invalid_grant"


async def test_reused_code_revokes_its_tokens(deployment: Deployment) -> None:
    created = await deployment.client()
    email = await deployment.buyer()
    verifier = secrets.token_urlsafe(48)
    async with oauth_client(deployment, created) as client:
        location, _ = await authorize(deployment, client, email, verifier)
        token = await client.fetch_token(
            deployment.token_url,
            authorization_response=location,
            code_verifier=verifier,
        )
        with pytest.raises(OAuthError) as raised:
            await client.fetch_token(
                deployment.token_url,
                authorization_response=location,
                code_verifier=verifier,
            )

    assert raised.value.error == "invalid_grant"
    with pytest.raises(OAuthError) as after:
        await refresh(deployment, created, token["refresh_token"])
    assert after.value.error == "invalid_grant"


async def test_unsupported_grant_types(deployment: Deployment) -> None:
    created = await deployment.client()
    async with httpx.AsyncClient(base_url=deployment.url) as http:
        password = await http.post(
            "/oauth/token",
            data={
                "grant_type": "password",
                "client_id": created.client.client_id,
                "username": "x@example.com",
                "password": PASSWORD,
            },
        )
        implicit = await http.get(
            "/oauth/authorize",
            params={
                "response_type": "token",
                "client_id": created.client.client_id,
                "redirect_uri": REDIRECT_URI,
            },
        )

    assert password.json()["error"] == "unsupported_grant_type"
    assert implicit.status_code == 302
    assert (
        query_params(implicit.headers["location"])["error"]
        == "unsupported_response_type"
    )


async def test_register_page_then_sign_in(deployment: Deployment) -> None:
    created = await deployment.client()
    email = f"new-{secrets.token_hex(4)}@Example.com"
    verifier = secrets.token_urlsafe(48)
    async with oauth_client(deployment, created) as client:
        url, _ = client.create_authorization_url(
            f"{deployment.url}/oauth/authorize", code_verifier=verifier
        )
    async with httpx.AsyncClient(base_url=deployment.url) as browser:
        page = await browser.get(url)
        register_link = re.search(r'<a href="([^"]+)">Create one</a>', page.text)
        assert register_link, page.text
        form = await browser.get(register_link.group(1).replace("&amp;", "&"))
        action, csrf = form_fields(form.text)
        registered = await browser.post(
            action, data={"email": email, "password": PASSWORD, "csrf_token": csrf}
        )

    assert registered.status_code == 303
    assert registered.headers["location"].startswith("/oauth/authorize?")
    # The address was normalised, so the lower-case spelling signs in.
    response = await sign_in(deployment, registered.headers["location"], email.lower())
    assert response.status_code == 302
    assert "code" in query_params(response.headers["location"])
