"""Buyer accounts, OAuth2 clients and the grants issued to them.

Authorization codes, refresh tokens and client secrets are stored as SHA-256
hashes: each is a random value of at least 256 bits, so a hash cannot be
reversed and a stolen table grants nothing.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Enum, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from seatline.models.base import Base, new_id


class ClientType(StrEnum):
    PUBLIC = "public"
    CONFIDENTIAL = "confidential"


class BuyerAccount(Base):
    __tablename__ = "buyer_accounts"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    # Normalised (trimmed, lower case), so one address has one account.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    # Argon2id hash in PHC string format.
    password_hash: Mapped[str] = mapped_column(String(255))
    # Scopes this account may grant to clients; the buyer scopes by default.
    scopes: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime]

    @property
    def subject(self) -> str:
        return str(self.id)


class OAuthClient(Base):
    __tablename__ = "oauth_clients"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    client_type: Mapped[ClientType] = mapped_column(
        Enum(
            ClientType,
            name="client_type",
            values_callable=lambda members: [member.value for member in members],
            native_enum=False,
            length=20,
        )
    )
    # SHA-256 hex of the secret; None for public clients.
    secret_hash: Mapped[str | None] = mapped_column(String(64))
    grant_types: Mapped[list[str]] = mapped_column(JSON)
    redirect_uris: Mapped[list[str]] = mapped_column(JSON)
    # The maximum set of scopes a token issued to this client can carry.
    scopes: Mapped[list[str]] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime]


class AuthorizationCode(Base):
    __tablename__ = "oauth_authorization_codes"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(
        ForeignKey("oauth_clients.client_id", ondelete="CASCADE"), index=True
    )
    subject: Mapped[str] = mapped_column(String(255))
    redirect_uri: Mapped[str] = mapped_column(String(2000))
    scope: Mapped[str] = mapped_column(String(1000))
    code_challenge: Mapped[str] = mapped_column(String(128))
    code_challenge_method: Mapped[str] = mapped_column(String(10))
    # The token family that exchanging this code starts; a second exchange
    # of the code revokes it.
    family_id: Mapped[uuid.UUID] = mapped_column(default=new_id)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    used_at: Mapped[datetime | None]


class RefreshToken(Base):
    __tablename__ = "oauth_refresh_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    # All refresh tokens rotated from one authorization share a family.
    family_id: Mapped[uuid.UUID] = mapped_column(index=True)
    client_id: Mapped[str] = mapped_column(
        ForeignKey("oauth_clients.client_id", ondelete="CASCADE"), index=True
    )
    subject: Mapped[str] = mapped_column(String(255))
    scope: Mapped[str] = mapped_column(String(1000))
    issued_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    # Set when the token was exchanged for a new one; using it again is reuse.
    used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class RevokedAccessToken(Base):
    """An access token revoked before its expiry, by its jti."""

    __tablename__ = "oauth_revoked_access_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)
