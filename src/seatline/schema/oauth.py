"""GraphQL types and inputs for buyer accounts and OAuth2 clients."""

from __future__ import annotations

import strawberry

from seatline.models import BuyerAccount as BuyerAccountModel
from seatline.models import ClientType
from seatline.models import OAuthClient as OAuthClientModel

strawberry.enum(ClientType, name="OAuthClientType")


@strawberry.type
class BuyerAccount:
    id: strawberry.ID = strawberry.field(
        description="The account's subject (sub) in access tokens."
    )
    email: str
    scopes: list[str]

    @classmethod
    def from_model(cls, account: BuyerAccountModel) -> BuyerAccount:
        return cls(
            id=strawberry.ID(account.subject),
            email=account.email,
            scopes=list(account.scopes),
        )


@strawberry.type
class OAuthClient:
    client_id: str
    name: str
    type: ClientType
    grant_types: list[str]
    redirect_uris: list[str]
    scopes: list[str] = strawberry.field(
        description="The maximum set of scopes a token of this client can carry."
    )

    @classmethod
    def from_model(cls, client: OAuthClientModel) -> OAuthClient:
        return cls(
            client_id=client.client_id,
            name=client.name,
            type=client.client_type,
            grant_types=list(client.grant_types),
            redirect_uris=list(client.redirect_uris),
            scopes=list(client.scopes),
        )


@strawberry.type
class OAuthClientCreated:
    client: OAuthClient
    client_secret: str | None = strawberry.field(
        description="The secret of a confidential client. Shown only in this "
        "result: seatline stores a hash."
    )


@strawberry.input
class RegisterBuyerInput:
    email: str
    password: str = strawberry.field(description="10 to 256 characters.")


@strawberry.input
class CreateOAuthClientInput:
    name: str
    type: ClientType
    grant_types: list[str] = strawberry.field(
        description="authorization_code, client_credentials and/or refresh_token."
    )
    redirect_uris: list[str] = strawberry.field(
        default_factory=list,
        description="Exact redirect URIs: https, or http on loopback only.",
    )
    scopes: list[str]
