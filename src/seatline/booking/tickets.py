"""Ticket codes and signed ticket payloads that verify offline."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from seatline.auth.keys import ALGORITHM, KeyStore


def new_ticket_code() -> str:
    """Return a URL-safe random code of 128 bits."""
    return secrets.token_urlsafe(16)


@dataclass(frozen=True)
class TicketFacts:
    ticket_id: str
    code: str
    event_id: str
    event_name: str
    event_starts_at: datetime
    seat_id: str
    section: str
    row: str
    seat_number: str


class TicketSigner:
    """Sign ticket facts as a compact JWS (ES256) for a QR code.

    A scanner verifies the payload with the public keys from
    /.well-known/jwks.json, without calling the API.
    """

    def __init__(self, keys: KeyStore) -> None:
        self._keys = keys

    def sign(self, facts: TicketFacts) -> str:
        key = self._keys.ticket_signing_key
        payload = {
            "tid": facts.ticket_id,
            "code": facts.code,
            "eid": facts.event_id,
            "ev": facts.event_name,
            "at": facts.event_starts_at.isoformat(),
            "seat": facts.seat_id,
            "sec": facts.section,
            "row": facts.row,
            "num": facts.seat_number,
        }
        header = {"alg": ALGORITHM, "kid": key.kid, "typ": "seatline-ticket+jws"}
        return jws.serialize_compact(
            header, orjson.dumps(payload), key, algorithms=[ALGORITHM]
        )


class InvalidTicket(Exception):
    pass


def verify_ticket(signed_payload: str, public_keys: KeySet) -> dict[str, Any]:
    """Check a ticket's signature against published keys; return its facts."""
    try:
        token = jws.deserialize_compact(
            signed_payload, public_keys, algorithms=[ALGORITHM]
        )
    except (JoseError, ValueError) as error:
        raise InvalidTicket(
            f"ticket signature is invalid: {error.__class__.__name__}"
        ) from None
    facts = orjson.loads(token.payload or b"null")
    if not isinstance(facts, dict):
        raise InvalidTicket("ticket payload is not an object")
    return facts
