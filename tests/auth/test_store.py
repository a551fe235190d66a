"""Single use of codes and refresh tokens, family revocation and purging."""

from __future__ import annotations

import asyncio
import secrets
import uuid

from seatline.auth import store
from seatline.auth.clients import ClientRequest, create_client
from seatline.booking.clock import ManualClock
from seatline.booking.services import Services
from seatline.models import ClientType


async def new_client(services: Services) -> str:
    created = await create_client(
        services,
        ClientRequest(
            name="Store test",
            client_type=ClientType.PUBLIC,
            grant_types=["authorization_code", "refresh_token"],
            redirect_uris=["https://app.example/callback"],
            scopes=["orders:read"],
        ),
        created_by="test",
    )
    return created.client.client_id


async def new_refresh_token(
    services: Services, client_id: str, family_id: uuid.UUID
) -> str:
    token = secrets.token_urlsafe(32)
    await store.save_refresh_token(
        services,
        token,
        family_id=family_id,
        client_id=client_id,
        subject="buyer",
        scope="orders:read",
    )
    return token


async def new_code(services: Services, client_id: str) -> str:
    code = secrets.token_urlsafe(32)
    await store.save_authorization_code(
        services,
        code,
        client_id=client_id,
        subject="buyer",
        redirect_uri="https://app.example/callback",
        scope="orders:read",
        code_challenge="x" * 43,
        code_challenge_method="S256",
    )
    return code


async def test_refresh_token_spent_once(services: Services) -> None:
    client_id = await new_client(services)
    token = await new_refresh_token(services, client_id, uuid.uuid4())

    results = await asyncio.gather(
        *(store.spend_refresh_token(services, store.digest(token)) for _ in range(8))
    )

    assert results.count(True) == 1


async def test_reuse_revokes_family(services: Services) -> None:
    client_id = await new_client(services)
    family = uuid.uuid4()
    first = await new_refresh_token(services, client_id, family)
    second = await new_refresh_token(services, client_id, family)
    other = await new_refresh_token(services, client_id, uuid.uuid4())
    assert await store.spend_refresh_token(services, store.digest(first))

    assert await store.find_refresh_token(services, first) is None
    assert await store.find_refresh_token(services, second) is None
    assert await store.find_refresh_token(services, other) is not None


async def test_authorization_code_reuse_revokes_family(services: Services) -> None:
    client_id = await new_client(services)
    code = await new_code(services, client_id)
    record = await store.find_authorization_code(services, code, client_id)
    assert record is not None
    issued = await new_refresh_token(services, client_id, record.family_id)
    assert await store.spend_authorization_code(services, record.code_hash)

    assert await store.find_authorization_code(services, code, client_id) is None
    assert await store.find_refresh_token(services, issued) is None


async def test_code_of_other_client_not_found(services: Services) -> None:
    client_id = await new_client(services)
    other = await new_client(services)
    code = await new_code(services, client_id)

    assert await store.find_authorization_code(services, code, other) is None
    assert await store.find_authorization_code(services, code, client_id) is not None


async def test_purge_expired_grants(services: Services, clock: ManualClock) -> None:
    client_id = await new_client(services)
    old = await new_refresh_token(services, client_id, uuid.uuid4())
    lifetime = services.settings.refresh_token_lifetime_seconds
    clock.advance(lifetime + 1)
    fresh = await new_refresh_token(services, client_id, uuid.uuid4())

    assert await store.purge_expired_grants(services) >= 1

    assert await store.load_refresh_token(services, old) is None
    assert await store.load_refresh_token(services, fresh) is not None
