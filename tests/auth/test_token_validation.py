"""Bearer-token validation: the local issuer, trusted issuers and rejections."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from joserfc import jwt

from seatline.auth.keys import ALGORITHM, KeySource, KeyStore, generate_key_store
from seatline.auth.tokens import InvalidToken, mint_token
from seatline.auth.validation import TokenValidator
from seatline.config import Settings, TrustedIssuer
from tests.auth.oidc_provider import Provider, running_provider
from tests.conftest import AUDIENCE, ISSUER


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5) as client:
        yield client


def validator_for(
    keys: KeyStore,
    key_file: Path,
    http: httpx.AsyncClient,
    *trusted: TrustedIssuer,
    refetch_seconds: float = 0,
) -> TokenValidator:
    settings = Settings(
        jwt_issuer=ISSUER,
        jwt_audience=AUDIENCE,
        jwt_leeway_seconds=5,
        trusted_issuers=list(trusted),
        issuer_refetch_interval_seconds=refetch_seconds,
    )
    return TokenValidator.from_settings(settings, KeySource(key_file, keys), http)


@pytest.fixture
def validator(
    keys: KeyStore, key_file: Path, http: httpx.AsyncClient
) -> TokenValidator:
    return validator_for(keys, key_file, http)


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    values: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "buyer-1",
        "client_id": "app",
        "scope": "bookings:write",
        "iat": now,
        "exp": now + 300,
        "jti": "j1",
    }
    values.update(overrides)
    return {key: value for key, value in values.items() if value is not None}


def sign(keys: KeyStore, payload: dict[str, Any], **header: Any) -> str:
    key = keys.token_signing_key
    fields = {"alg": ALGORITHM, "typ": "at+jwt", "kid": key.kid, **header}
    fields = {name: value for name, value in fields.items() if value is not None}
    return jwt.encode(fields, payload, key, algorithms=[ALGORITHM])


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(data)).rstrip(b"=").decode()


async def rejected(validator: TokenValidator, token: str) -> str:
    with pytest.raises(InvalidToken) as raised:
        await validator.validate(token)
    return str(raised.value)


async def test_local_token_accepted(validator: TokenValidator, keys: KeyStore) -> None:
    token = mint_token(
        keys,
        subject="buyer-1",
        scopes=["orders:read"],
        issuer=ISSUER,
        audience=AUDIENCE,
    )

    principal = await validator.validate(token)

    assert principal.subject == "buyer-1"
    assert principal.scopes == {"orders:read"}
    assert principal.client_id == "seatline-cli"


async def test_expired_token(validator: TokenValidator, keys: KeyStore) -> None:
    now = int(time.time())
    token = sign(keys, claims(iat=now - 700, exp=now - 60))

    assert "expired" in await rejected(validator, token)


async def test_expired_within_leeway(validator: TokenValidator, keys: KeyStore) -> None:
    token = sign(keys, claims(exp=int(time.time()) - 2))

    assert (await validator.validate(token)).subject == "buyer-1"


async def test_not_yet_valid_token(validator: TokenValidator, keys: KeyStore) -> None:
    token = sign(keys, claims(nbf=int(time.time()) + 120))

    assert "not yet valid" in await rejected(validator, token)


async def test_wrong_audience(validator: TokenValidator, keys: KeyStore) -> None:
    token = sign(keys, claims(aud="another-api"))

    assert "Invalid claim: 'aud'" in await rejected(validator, token)


async def test_wrong_issuer(validator: TokenValidator, keys: KeyStore) -> None:
    token = sign(keys, claims(iss="https://issuer.invalid"))

    assert "issuer is not trusted" in await rejected(validator, token)


async def test_alg_none(validator: TokenValidator, keys: KeyStore) -> None:
    header = {"alg": "none", "typ": "at+jwt", "kid": keys.token_signing_key.kid}
    token = f"{b64(header)}.{b64(claims())}."

    assert "algorithm 'none'" in await rejected(validator, token)


async def test_hs256_signed_with_public_key(
    validator: TokenValidator, keys: KeyStore
) -> None:
    # joserfc refuses to build such a key, so the MAC is computed by hand.
    public_pem = keys.token_signing_key.as_pem(private=False)
    header = {"alg": "HS256", "typ": "at+jwt", "kid": keys.token_signing_key.kid}
    signing_input = f"{b64(header)}.{b64(claims())}"
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    token = f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"

    assert "algorithm 'HS256'" in await rejected(validator, token)


async def test_tampered_payload(validator: TokenValidator, keys: KeyStore) -> None:
    header, _, signature = sign(keys, claims()).split(".")
    token = f"{header}.{b64(claims(scope='admin'))}.{signature}"

    assert "BadSignatureError" in await rejected(validator, token)


async def test_missing_kid(validator: TokenValidator, keys: KeyStore) -> None:
    token = sign(keys, claims(), kid=None)

    assert "kid is missing" in await rejected(validator, token)


async def test_unknown_kid(validator: TokenValidator) -> None:
    stranger = generate_key_store()
    token = sign(stranger, claims())

    assert "unknown kid" in await rejected(validator, token)


async def test_wrong_typ(validator: TokenValidator, keys: KeyStore) -> None:
    token = sign(keys, claims(), typ="JWT")

    assert "typ must be at+jwt" in await rejected(validator, token)


async def test_missing_subject(validator: TokenValidator, keys: KeyStore) -> None:
    token = sign(keys, claims(sub=None))

    assert "Missing claim: 'sub'" in await rejected(validator, token)


async def test_garbage(validator: TokenValidator) -> None:
    for token in ("", "abc", "a.b.c", "é.é.é", "x" * 9000):
        await rejected(validator, token)


async def test_rotated_local_key_verifies(
    tmp_path: Path, http: httpx.AsyncClient
) -> None:
    from seatline.auth.keys import write_key_store

    key_file = tmp_path / "keys.json"
    old = generate_key_store()
    write_key_store(key_file, old)
    validator = validator_for(old, key_file, http)
    rotated = old.rotate()
    write_key_store(key_file, rotated)

    new_token = mint_token(
        rotated, subject="s", scopes=[], issuer=ISSUER, audience=AUDIENCE
    )
    old_token = mint_token(
        old, subject="s", scopes=[], issuer=ISSUER, audience=AUDIENCE
    )

    # The validator loaded the old file; an unknown kid makes it re-read it.
    assert (await validator.validate(new_token)).subject == "s"
    assert (await validator.validate(old_token)).subject == "s"


# Trusted external issuers


@pytest.fixture
async def provider() -> AsyncIterator[Provider]:
    async with running_provider() as running:
        yield running


def trusted(provider: Provider, **overrides: Any) -> TrustedIssuer:
    values: dict[str, Any] = {"issuer": provider.issuer, "audience": "seatline"}
    values.update(overrides)
    return TrustedIssuer(**values)


async def test_external_token_accepted(
    provider: Provider, keys: KeyStore, key_file: Path, http: httpx.AsyncClient
) -> None:
    validator = validator_for(keys, key_file, http, trusted(provider))
    token = provider.token("alice", "orders:read openid", audience="seatline")

    principal = await validator.validate(token)

    assert principal.subject == f"{provider.issuer}|alice"
    assert principal.scopes == {"orders:read", "openid"}
    assert principal.client_id == "provider-app"


async def test_external_scope_claim_and_prefix(
    provider: Provider, keys: KeyStore, key_file: Path, http: httpx.AsyncClient
) -> None:
    config = trusted(provider, scope_claim="roles", subject_prefix="idp:")
    validator = validator_for(keys, key_file, http, config)
    token = provider.token("alice", "ignored", audience="seatline")

    principal = await validator.validate(token)

    assert principal.subject == "idp:alice"
    assert principal.scopes == frozenset()


async def test_external_rotated_key_after_refetch(
    provider: Provider, keys: KeyStore, key_file: Path, http: httpx.AsyncClient
) -> None:
    validator = validator_for(keys, key_file, http, trusted(provider))
    before = provider.token("alice", "orders:read", audience="seatline")
    assert (await validator.validate(before)).subject.endswith("|alice")

    provider.rotate()
    after = provider.token("alice", "orders:read", audience="seatline")

    assert (await validator.validate(after)).subject.endswith("|alice")
    assert (await validator.validate(before)).subject.endswith("|alice")
    assert provider.jwks_requests == 2


async def test_unknown_kids_refetch_at_bounded_rate(
    provider: Provider, keys: KeyStore, key_file: Path, http: httpx.AsyncClient
) -> None:
    validator = validator_for(
        keys, key_file, http, trusted(provider), refetch_seconds=60
    )
    await validator.validate(provider.token("alice", "", audience="seatline"))
    stranger = Provider(provider.issuer.rsplit("/realms", 1)[0])

    for _ in range(20):
        forged = stranger.token("mallory", "admin", audience="seatline")
        assert "unknown kid" in await rejected(validator, forged)
        stranger.rotate()

    # One fetch at start, at most one refetch for all twenty unknown kids.
    assert provider.jwks_requests <= 2


async def test_external_wrong_audience(
    provider: Provider, keys: KeyStore, key_file: Path, http: httpx.AsyncClient
) -> None:
    validator = validator_for(keys, key_file, http, trusted(provider))
    token = provider.token("alice", "orders:read", audience="another-api")

    assert "Invalid claim: 'aud'" in await rejected(validator, token)


async def test_unconfigured_issuer(
    provider: Provider, keys: KeyStore, key_file: Path, http: httpx.AsyncClient
) -> None:
    validator = validator_for(keys, key_file, http, trusted(provider))
    token = provider.token(
        "alice", "orders:read", audience="seatline", issuer=provider.issuer + "-other"
    )

    assert "issuer is not trusted" in await rejected(validator, token)
    assert provider.jwks_requests == 0


async def test_external_algorithm_not_allowed_for_issuer(
    provider: Provider, keys: KeyStore, key_file: Path, http: httpx.AsyncClient
) -> None:
    validator = validator_for(
        keys, key_file, http, trusted(provider, algorithms=["ES256"])
    )
    token = provider.token("alice", "orders:read", audience="seatline")

    assert "algorithm 'RS256'" in await rejected(validator, token)


async def test_unreachable_issuer(
    keys: KeyStore, key_file: Path, http: httpx.AsyncClient
) -> None:
    from tests.live import free_port

    gone = Provider(f"http://127.0.0.1:{free_port()}")
    validator = validator_for(keys, key_file, http, trusted(gone))
    token = gone.token("alice", "orders:read", audience="seatline")

    assert "issuer is unreachable" in await rejected(validator, token)


def test_symmetric_algorithms_cannot_be_configured() -> None:
    with pytest.raises(ValueError, match="not allowed"):
        TrustedIssuer(issuer="https://idp.example", audience="a", algorithms=["HS256"])
