"""Admission passes: short-lived JWTs that let one buyer hold seats of one event.

They are signed with the access-token key but carry their own `typ` and
audience, so a pass is never accepted as an access token, nor the reverse.
"""

from __future__ import annotations

from dataclasses import dataclass

from joserfc import jwt
from joserfc.errors import JoseError

from seatline.auth.keys import ALGORITHM, KeyStore

JWT_TYPE = "wr+jwt"
AUDIENCE = "seatline-waiting-room"
MAX_PASS_LENGTH = 4096


class InvalidPass(Exception):
    """The admission pass failed a check; the message is safe to show."""


@dataclass(frozen=True)
class AdmissionPass:
    subject: str
    event_id: str
    # Unix times.
    issued_at: int
    expires_at: int


class AdmissionPasses:
    """Sign and verify admission passes with the key store's token keys."""

    def __init__(self, keys: KeyStore, *, issuer: str) -> None:
        self._keys = keys
        self._issuer = issuer

    def sign(self, admission: AdmissionPass) -> str:
        key = self._keys.token_signing_key
        header = {"alg": ALGORITHM, "typ": JWT_TYPE, "kid": key.kid}
        claims = {
            "iss": self._issuer,
            "aud": AUDIENCE,
            "sub": admission.subject,
            "event_id": admission.event_id,
            "iat": admission.issued_at,
            "exp": admission.expires_at,
        }
        return jwt.encode(header, claims, key, algorithms=[ALGORITHM])

    def verify(self, token: str) -> AdmissionPass:
        """Check the signature, type, issuer and audience of a pass.

        Expiry is left to the caller, which compares `expires_at` with the
        domain clock.
        """
        if len(token) > MAX_PASS_LENGTH:
            raise InvalidPass("admission pass is too long")
        try:
            decoded = jwt.decode(
                token, self._keys.token_key_set(), algorithms=[ALGORITHM]
            )
        except (JoseError, ValueError) as error:
            raise InvalidPass(
                f"admission pass is invalid: {error.__class__.__name__}"
            ) from None

        if decoded.header.get("typ") != JWT_TYPE:
            raise InvalidPass(f"admission pass is invalid: typ must be {JWT_TYPE}")
        claims = decoded.claims
        if claims.get("iss") != self._issuer or claims.get("aud") != AUDIENCE:
            raise InvalidPass("admission pass is invalid: wrong issuer or audience")
        subject = claims.get("sub")
        event_id = claims.get("event_id")
        issued_at = claims.get("iat")
        expires_at = claims.get("exp")
        if not (
            isinstance(subject, str)
            and isinstance(event_id, str)
            and isinstance(issued_at, int)
            and isinstance(expires_at, int)
        ):
            raise InvalidPass("admission pass is invalid: claims are missing")
        return AdmissionPass(subject, event_id, issued_at, expires_at)
