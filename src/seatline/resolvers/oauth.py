"""Resolvers for buyer registration and OAuth2 client registration."""

from __future__ import annotations

from typing import Annotated

import strawberry

from seatline.auth import accounts
from seatline.auth import clients as client_service
from seatline.resolvers.common import principal
from seatline.schema.context import Info
from seatline.schema.errors import (
    BusyError,
    InvalidInputError,
    LimitExceededError,
    returns_errors,
)
from seatline.schema.oauth import (
    BuyerAccount,
    CreateOAuthClientInput,
    OAuthClient,
    OAuthClientCreated,
    RegisterBuyerInput,
)

RegisterBuyerResult = Annotated[
    BuyerAccount | InvalidInputError | LimitExceededError | BusyError,
    strawberry.union("RegisterBuyerResult"),
]
CreateOAuthClientResult = Annotated[
    OAuthClientCreated | InvalidInputError | BusyError,
    strawberry.union("CreateOAuthClientResult"),
]


@returns_errors
async def register_buyer(info: Info, input: RegisterBuyerInput) -> RegisterBuyerResult:
    request = info.context.request
    client = getattr(request, "client", None)
    account = await accounts.register_account(
        info.context.services,
        input.email,
        input.password,
        address=client.host if client else "unknown",
    )
    return BuyerAccount.from_model(account)


@returns_errors
async def create_oauth_client(
    info: Info, input: CreateOAuthClientInput
) -> CreateOAuthClientResult:
    request = client_service.ClientRequest(
        name=input.name,
        client_type=input.type,
        grant_types=input.grant_types,
        redirect_uris=input.redirect_uris,
        scopes=input.scopes,
    )
    created = await client_service.create_client(
        info.context.services, request, created_by=principal(info).subject
    )
    return OAuthClientCreated(
        client=OAuthClient.from_model(created.client), client_secret=created.secret
    )
