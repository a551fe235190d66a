"""A buyer's whole path through the GraphQL API: hold, checkout, pay, tickets."""

from __future__ import annotations

import uuid

from joserfc.jwk import KeySet

from seatline.booking.tickets import verify_ticket
from tests.conftest import ApiClient, EventFixture, seat_ids

HOLD_SEATS = """
mutation Hold($input: HoldSeatsInput!) {
  holdSeats(input: $input) {
    __typename
    ... on Hold { id status expiresAt seatIds }
    ... on Error { code message field }
    ... on SeatsUnavailableError { seatIds }
  }
}
"""

CHECKOUT = """
mutation Checkout($input: CheckoutInput!) {
  checkout(input: $input) {
    __typename
    ... on Order { id status totalAmount currency seatIds }
    ... on Error { code message field }
  }
}
"""

PAY = """
mutation Pay($input: PayOrderInput!) {
  payOrder(input: $input) {
    __typename
    ... on Order { id status paidAt tickets { id code seatId signedPayload } }
    ... on Error { code message field }
    ... on PaymentDeclinedError { declineCode }
  }
}
"""

SEAT_MAP = """
query SeatMap($id: ID!) {
  event(id: $id) {
    name
    seatMap { layoutVersion version seatCount availability
      countsByCategory { key available held sold blocked } }
  }
}
"""


def key() -> str:
    return str(uuid.uuid4())


async def test_buyer_flow_hold_checkout_pay_tickets(
    api: ApiClient, on_sale: EventFixture
) -> None:
    buyer = api.token("buyer-1", "bookings:write")
    chosen = seat_ids(on_sale)[:2]

    held = await api.execute(
        HOLD_SEATS,
        {"input": {"eventId": on_sale.id, "seatIds": chosen, "idempotencyKey": key()}},
        token=buyer,
    )
    hold = held["data"]["holdSeats"]
    assert hold["__typename"] == "Hold", hold
    assert hold["status"] == "ACTIVE"
    assert sorted(hold["seatIds"]) == sorted(chosen)

    checked_out = await api.execute(
        CHECKOUT,
        {"input": {"holdId": hold["id"], "idempotencyKey": key()}},
        token=buyer,
    )
    order = checked_out["data"]["checkout"]
    assert order["__typename"] == "Order", order
    assert order["status"] == "AWAITING_PAYMENT"
    assert order["totalAmount"] > 0

    paid = await api.execute(
        PAY,
        {
            "input": {
                "orderId": order["id"],
                "payment": {"token": "tok_approve"},
                "idempotencyKey": key(),
            }
        },
        token=buyer,
    )
    result = paid["data"]["payOrder"]
    assert result["__typename"] == "Order", result
    assert result["status"] == "PAID"
    assert sorted(ticket["seatId"] for ticket in result["tickets"]) == sorted(chosen)

    jwks = (await api.client.get("/.well-known/jwks.json")).json()
    ticket = result["tickets"][0]
    facts = verify_ticket(ticket["signedPayload"], KeySet.import_key_set(jwks))
    assert facts["code"] == ticket["code"]
    assert facts["seat"] == ticket["seatId"]

    seat_map = await api.execute(SEAT_MAP, {"id": on_sale.id})
    counts = seat_map["data"]["event"]["seatMap"]["countsByCategory"]
    assert sum(c["sold"] for c in counts) == 2
    assert sum(c["held"] for c in counts) == 0
