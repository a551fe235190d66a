"""registerBuyer and createOAuthClient over GraphQL."""

from __future__ import annotations

import hashlib
import secrets

from seatline.auth.store import get_client
from seatline.booking.services import Services
from tests.conftest import ApiClient

REGISTER = """
mutation Register($input: RegisterBuyerInput!) {
  registerBuyer(input: $input) {
    __typename
    ... on BuyerAccount { id email scopes }
    ... on Error { code field message }
  }
}
"""

CREATE_CLIENT = """
mutation Create($input: CreateOAuthClientInput!) {
  createOAuthClient(input: $input) {
    __typename
    ... on OAuthClientCreated {
      clientSecret
      client { clientId name type grantTypes redirectUris scopes }
    }
    ... on Error { code field message }
  }
}
"""


def register_input(
    email: str, password: str = "long enough password"
) -> dict[str, object]:
    return {"input": {"email": email, "password": password}}


async def test_register_buyer(api: ApiClient) -> None:
    email = f"Buyer-{secrets.token_hex(4)}@Example.com"

    body = await api.execute(REGISTER, register_input(email))

    result = body["data"]["registerBuyer"]
    assert result["__typename"] == "BuyerAccount"
    assert result["email"] == email.lower()
    assert result["scopes"] == ["bookings:write", "events:read", "orders:read"]


async def test_register_buyer_twice(api: ApiClient) -> None:
    email = f"buyer-{secrets.token_hex(4)}@example.com"
    await api.execute(REGISTER, register_input(email))

    body = await api.execute(REGISTER, register_input(email))

    result = body["data"]["registerBuyer"]
    assert result["code"] == "INVALID_INPUT"
    assert result["field"] == "email"


async def test_register_buyer_short_password(api: ApiClient) -> None:
    body = await api.execute(REGISTER, register_input("a@example.com", "short"))

    result = body["data"]["registerBuyer"]
    assert result["code"] == "INVALID_INPUT"
    assert result["field"] == "password"


async def test_create_confidential_client(api: ApiClient, services: Services) -> None:
    admin = api.token("admin-1", "admin")
    variables = {
        "input": {
            "name": "Partner feed",
            "type": "CONFIDENTIAL",
            "grantTypes": ["client_credentials"],
            "scopes": ["partner:stream", "events:read"],
        }
    }

    body = await api.execute(CREATE_CLIENT, variables, token=admin)

    result = body["data"]["createOAuthClient"]
    client = result["client"]
    assert client["type"] == "CONFIDENTIAL"
    assert client["scopes"] == ["events:read", "partner:stream"]
    assert client["redirectUris"] == []
    stored = await get_client(services, client["clientId"])
    assert stored is not None
    assert stored.created_by == "admin-1"
    assert (
        stored.secret_hash
        == hashlib.sha256(result["clientSecret"].encode()).hexdigest()
    )


async def test_create_public_client_without_secret(api: ApiClient) -> None:
    admin = api.token("admin-1", "admin")
    variables = {
        "input": {
            "name": "Web shop",
            "type": "PUBLIC",
            "grantTypes": ["authorization_code", "refresh_token"],
            "redirectUris": ["https://shop.example/callback"],
            "scopes": ["bookings:write"],
        }
    }

    body = await api.execute(CREATE_CLIENT, variables, token=admin)

    assert body["data"]["createOAuthClient"]["clientSecret"] is None


async def test_create_client_invalid_input(api: ApiClient) -> None:
    admin = api.token("admin-1", "admin")
    cases = [
        ({"grantTypes": ["password"]}, "grantTypes"),
        ({"grantTypes": ["implicit"]}, "grantTypes"),
        ({"redirectUris": ["https://shop.example/cb#fragment"]}, "redirectUris"),
        ({"redirectUris": []}, "redirectUris"),
        ({"scopes": ["tickets:print"]}, "scopes"),
        ({"type": "PUBLIC", "grantTypes": ["client_credentials"]}, "grantTypes"),
        ({"name": " "}, "name"),
    ]
    for overrides, field in cases:
        values: dict[str, object] = {
            "name": "Web shop",
            "type": "CONFIDENTIAL",
            "grantTypes": ["authorization_code"],
            "redirectUris": ["https://shop.example/callback"],
            "scopes": ["bookings:write"],
        }
        values.update(overrides)

        body = await api.execute(CREATE_CLIENT, {"input": values}, token=admin)

        result = body["data"]["createOAuthClient"]
        assert result["code"] == "INVALID_INPUT", overrides
        assert result["field"] == field, overrides
