"""Signing keys of external OpenID Connect issuers, fetched and cached.

Each trusted issuer's discovery document names its JWKS; both are fetched
with httpx, kept for `issuer_cache_seconds`, and fetched again early when a
token names a kid the cached set lacks, but at most once per
`issuer_refetch_interval_seconds`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import httpx
from joserfc.errors import JoseError
from joserfc.jwk import Key, KeySet

from seatline.config import TrustedIssuer

logger = logging.getLogger(__name__)

# JWKS and discovery documents larger than this are rejected, in bytes.
MAX_DOCUMENT_BYTES = 512 * 1024


class IssuerUnavailable(Exception):
    """The issuer's discovery document or JWKS could not be fetched."""


class UnknownKey(Exception):
    """The issuer publishes no key with the token's kid."""


class ExternalIssuer:
    def __init__(
        self,
        config: TrustedIssuer,
        http: httpx.AsyncClient,
        *,
        cache_seconds: float,
        refetch_interval_seconds: float,
    ) -> None:
        self.config = config
        self._http = http
        self._cache_seconds = cache_seconds
        self._refetch_interval = refetch_interval_seconds
        self._keys: KeySet | None = None
        self._fetched_at = float("-inf")
        self._attempted_at = float("-inf")
        self._lock = asyncio.Lock()

    async def key(self, kid: str) -> Key:
        """Return the issuer's key with `kid`, fetching the JWKS if needed."""
        now = time.monotonic()
        stale = now - self._fetched_at >= self._cache_seconds
        if self._keys is None or stale:
            await self._refresh(force=False)
        found = self._find(kid)
        if found is not None:
            return found

        await self._refresh(force=True)
        found = self._find(kid)
        if found is None:
            raise UnknownKey(kid)
        return found

    def _find(self, kid: str) -> Key | None:
        if self._keys is None:
            return None
        for key in self._keys.keys:
            if key.kid == kid:
                return key
        return None

    async def _refresh(self, *, force: bool) -> None:
        async with self._lock:
            now = time.monotonic()
            if now - self._attempted_at < self._refetch_interval:
                # Another request fetched just now, or a fetch failed just now.
                if self._keys is None:
                    raise IssuerUnavailable(self.config.issuer)
                return
            if not force and now - self._fetched_at < self._cache_seconds:
                return
            self._attempted_at = now
            try:
                self._keys = await self._fetch()
            except (
                httpx.HTTPError,
                ValueError,
                TypeError,
                KeyError,
                JoseError,
            ) as error:
                logger.warning(
                    "cannot fetch the JWKS of a trusted issuer",
                    extra={"issuer": self.config.issuer, "error": repr(error)},
                )
                if self._keys is None:
                    raise IssuerUnavailable(self.config.issuer) from None
                # Keep serving the keys fetched before: an issuer outage must
                # not sign every user out.
                return
            self._fetched_at = time.monotonic()
            logger.info(
                "fetched the JWKS of a trusted issuer",
                extra={"issuer": self.config.issuer, "keys": len(self._keys.keys)},
            )

    async def _fetch(self) -> KeySet:
        issuer = self.config.issuer
        discovery_url = issuer.rstrip("/") + "/.well-known/openid-configuration"
        discovery = await self._get_json(discovery_url)
        if discovery.get("issuer") != issuer:
            raise ValueError(
                f"discovery document names issuer {discovery.get('issuer')!r}, "
                f"expected {issuer!r}"
            )
        jwks_uri = discovery["jwks_uri"]
        if not isinstance(jwks_uri, str):
            raise TypeError("jwks_uri in the discovery document is not a string")
        jwks = await self._get_json(jwks_uri)
        signing = [
            item
            for item in jwks["keys"]
            if isinstance(item, dict) and item.get("use", "sig") == "sig"
        ]
        return KeySet.import_key_set({"keys": signing})

    async def _get_json(self, url: str) -> dict[str, Any]:
        response = await self._http.get(url)
        response.raise_for_status()
        if len(response.content) > MAX_DOCUMENT_BYTES:
            raise ValueError(f"{url} returned more than {MAX_DOCUMENT_BYTES} bytes")
        data = response.json()
        if not isinstance(data, dict):
            raise TypeError(f"{url} did not return a JSON object")
        return data
