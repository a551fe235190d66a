"""Locust on-sale scenario: buyers and bots against one seatline event.

Run it through bench/loadtest.py, which creates the event, writes the
scenario file named by SEATLINE_LOADTEST_SCENARIO and reads back the results
file named by SEATLINE_LOADTEST_RESULTS. Locust patches the standard library
with gevent, so this module only ever runs inside a Locust process.

- Buyer: arrives, subscribes to seatMapUpdates and applies each delta to its
  own copy of the seat map, then repeats a purchase. A share of the holds
  picks side-by-side seats from that map, the rest ask for bestAvailable.
  After the hold, a share releases it (abandons), a share walks away and
  lets it expire, and the rest check out and pay.
- Bot: one identity that sends holdSeats as fast as the server answers and
  never pays, so its holds block seats until they expire.
- TypenameProbe: sends `{ __typename }`, the cheapest GraphQL request, to
  measure the raw request rate of the same client and server in the run.

Every GraphQL request is reported to Locust under its root field name
(holdSeats, checkout, ...). A 200 response with data is a completed
request, whatever its typed result. Typed error codes (SEATS_UNAVAILABLE,
BUSY, ...) are counted apart from transport failures (connection errors,
non-200 statuses, responses with GraphQL errors or without data).
"""

from __future__ import annotations

import os
import random
import ssl
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import gevent
import orjson
import websocket
from locust import between, constant, events, task
from locust.contrib.fasthttp import FastHttpUser
from onsale import (
    CHECKOUT,
    HOLD_SEATS,
    ORDER,
    PAY_ORDER,
    RELEASE_HOLD,
    TokenFactory,
    choose_seats,
    decode_availability,
    result_outcome,
)

from seatline.booking.availability import STATUS_CODES
from seatline.config import Settings
from seatline.models import SeatStatus

SCENARIO = orjson.loads(Path(os.environ["SEATLINE_LOADTEST_SCENARIO"]).read_bytes())

WATCH_SEAT_MAP = """
subscription Watch($eventId: ID!, $sinceVersion: Int) {
  seatMapUpdates(eventId: $eventId, sinceVersion: $sinceVersion) {
    kind version fromVersion seatCount availability reason
    changes { ordinal status }
  }
}
"""
TYPENAME = "query Probe { __typename }"

# GraphQL enum names of seat statuses -> the seat map's two-bit codes.
STATUS_BY_NAME = {status.name: STATUS_CODES[status] for status in SeatStatus}
# Attempts per request after a transport failure, with the same body, so the
# idempotency key stays the same. The pause doubles from RETRY_DELAY_SECONDS.
TRANSPORT_ATTEMPTS = 3
RETRY_DELAY_SECONDS = 0.5
# Attempts of one mutation whose result is BUSY (or PAYMENT_FAILED for
# payOrder), all with the same idempotency key.
RETRY_ATTEMPTS = 5
WS_RECONNECT_MAX_SECONDS = 5.0


class Recorder:
    """Counts and latencies that the users saw, written out when the test stops."""

    def __init__(self) -> None:
        # Epoch second -> completed requests, and -> failures and codes by kind.
        self.completed_by_second: Counter[int] = Counter()
        self.events_by_second: defaultdict[int, Counter[str]] = defaultdict(Counter)
        self.latencies_ms: defaultdict[str, list[float]] = defaultdict(list)
        # "operation outcome" -> count; the outcome is a type name or error code.
        self.outcomes: Counter[str] = Counter()
        # "operation: failure" -> count, for transport failures.
        self.transport: Counter[str] = Counter()
        self.websocket: Counter[str] = Counter()
        self.paid_order_ids: list[str] = []
        self.sold_seat_ids: list[str] = []
        # Orders whose payOrder was sent but whose outcome the buyer never saw.
        self.pending_payments: set[str] = set()
        self.ticket_mismatches = 0
        self.identities = 0

    def note(self, kind: str) -> None:
        self.events_by_second[int(time.time())][kind] += 1

    def outcome(self, operation: str, outcome: str) -> None:
        self.outcomes[f"{operation} {outcome}"] += 1
        if outcome not in ("Hold", "Order", "SeatMap", "Typename"):
            self.note(outcome)

    def to_json(self) -> dict[str, Any]:
        return {
            "completed_by_second": dict(self.completed_by_second),
            "events_by_second": {
                second: dict(kinds) for second, kinds in self.events_by_second.items()
            },
            "latencies_ms": self.latencies_ms,
            "outcomes": dict(self.outcomes),
            "transport": dict(self.transport),
            "websocket": dict(self.websocket),
            "paid_order_ids": self.paid_order_ids,
            "sold_seat_ids": self.sold_seat_ids,
            "unknown_payments": sorted(self.pending_payments),
            "ticket_mismatches": self.ticket_mismatches,
            "identities": self.identities,
        }


RECORD = Recorder()


@events.request.add_listener
def _on_request(
    request_type: str,
    name: str,
    response_time: float,
    exception: BaseException | None,
    context: dict[str, Any],
    **_: Any,
) -> None:
    if request_type != "POST":
        return
    # Bots' latencies apart, since their holds mostly end in LIMIT_EXCEEDED.
    role = context.get("role")
    label = name if role is None else f"{name} ({role})"
    RECORD.latencies_ms[label].append(response_time)
    if exception is None:
        RECORD.completed_by_second[int(time.time())] += 1


@events.test_stop.add_listener
def _write_results(**_: Any) -> None:
    Path(os.environ["SEATLINE_LOADTEST_RESULTS"]).write_bytes(
        orjson.dumps(RECORD.to_json(), option=orjson.OPT_NON_STR_KEYS)
    )


def _tls_context() -> ssl.SSLContext | None:
    ca_file = SCENARIO.get("ca_file")
    return None if ca_file is None else ssl.create_default_context(cafile=ca_file)


TOKENS = TokenFactory(Settings(), SCENARIO["token_lifetime_seconds"])


class GraphQLUser(FastHttpUser):
    """A user that sends GraphQL over HTTP with a bearer token."""

    abstract = True
    # A request that hangs longer than this counts as a transport failure.
    network_timeout = 30.0
    connection_timeout = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rng = random.Random()
        self.token = ""
        self.subject = ""
        self.generation = 0

    def new_identity(self, role: str) -> None:
        self.generation += 1
        self.subject = f"load-{SCENARIO['run_id']}-{role}-{uuid.uuid4().hex[:12]}"
        self.token = TOKENS.mint(self.subject, ["bookings:write", "orders:read"])
        RECORD.identities += 1

    def execute(
        self, operation: str, document: str, variables: dict[str, Any]
    ) -> dict[str, Any] | None:
        """Return the response's data, or None after every attempt failed."""
        body = orjson.dumps({"query": document, "variables": variables})
        for attempt in range(TRANSPORT_ATTEMPTS):
            if attempt > 0:
                gevent.sleep(RETRY_DELAY_SECONDS * 2 ** (attempt - 1))
            data = self._attempt(operation, body)
            if data is not None:
                return data
        return None

    def _attempt(self, operation: str, body: bytes) -> dict[str, Any] | None:
        headers = {
            "Authorization": f"Bearer {self.token}",
            "Content-Type": "application/json",
        }
        with self.client.post(
            "/graphql", data=body, headers=headers, name=operation, catch_response=True
        ) as response:
            failure = _failure_of(response)
            if failure is not None:
                response.failure(failure)
                RECORD.transport[f"{operation}: {failure}"] += 1
                RECORD.note(failure)
                return None
            data: dict[str, Any] = response.json()["data"]
            response.success()
            return data


def _failure_of(response: Any) -> str | None:
    """Name the transport failure of a response, or return None for data."""
    if response.status_code == 0:
        return type(response.error).__name__
    if response.status_code != 200:
        return f"HTTP {response.status_code}"
    payload = orjson.loads(response.content)
    errors = payload.get("errors") or []
    if errors:
        first = errors[0]
        code = (first.get("extensions") or {}).get("code")
        return f"GraphQL error {code or str(first.get('message'))[:60]}"
    if not isinstance(payload.get("data"), dict):
        return "GraphQL response without data"
    return None


class SeatMapWatcher:
    """A seatMapUpdates subscription that keeps one buyer's seat map current.

    It applies a snapshot, then deltas in version order, and resubscribes
    from its last version after a gap or a closed socket.
    """

    def __init__(self, user: Buyer) -> None:
        self.user = user
        self.codes: bytearray | None = None
        self.version = -1
        self.socket: websocket.WebSocket | None = None
        self.greenlet = gevent.spawn(self._run)

    def stop(self) -> None:
        self.greenlet.kill(block=False)
        if self.socket is not None:
            self.socket.close()

    def _run(self) -> None:
        delay = 0.25
        while True:
            try:
                self._watch()
            except websocket.WebSocketBadStatusException as error:
                RECORD.websocket[f"handshake failed: HTTP {error.status_code}"] += 1
                RECORD.note("websocket failed")
            except (OSError, websocket.WebSocketException) as error:
                RECORD.websocket[f"failed: {type(error).__name__}: {error}"] += 1
                RECORD.note("websocket failed")
            finally:
                # The server counts open sockets per address and principal.
                if self.socket is not None:
                    self.socket.close()
                    self.socket = None
            # The pause doubles after each socket that brought no snapshot.
            delay = 0.5 if self.codes is not None else delay * 2
            delay = min(WS_RECONNECT_MAX_SECONDS, delay)
            self.codes = None
            gevent.sleep(self.user.rng.uniform(0.5, 1.0) * delay)

    def _watch(self) -> None:
        url = SCENARIO["url"].replace("http", "ws", 1) + "/graphql"
        context = _tls_context()
        options = {} if context is None else {"context": context}
        # Like other non-browser clients, send no Origin header: behind nginx
        # the Host header loses the port, and seatline rejects a websocket
        # whose Origin names another host with 403.
        self.socket = websocket.create_connection(
            url,
            subprotocols=["graphql-transport-ws"],
            timeout=60,
            sslopt=options,
            suppress_origin=True,
        )
        send = self.socket.send
        # Anonymous sockets share one principal, which may open only a few.
        init = {"Authorization": f"Bearer {self.user.token}"}
        send(_json({"type": "connection_init", "payload": init}))
        if self._receive() is None:
            return
        since = None if self.version < 0 else self.version
        variables = {"eventId": SCENARIO["event_id"], "sinceVersion": since}
        payload = {"query": WATCH_SEAT_MAP, "variables": variables}
        send(_json({"id": "1", "type": "subscribe", "payload": payload}))
        RECORD.websocket["subscribed"] += 1
        while True:
            message = self._receive()
            if message is None:
                return
            payload = message.get("payload") or {}
            if message["type"] == "next" and payload.get("data"):
                self._apply(payload["data"]["seatMapUpdates"])
                continue
            errors = payload if message["type"] == "error" else payload.get("errors")
            for error in errors or []:
                code = (error.get("extensions") or {}).get("code", error.get("message"))
                RECORD.websocket[f"subscription error {code}"] += 1
            if message["type"] in ("error", "complete"):
                RECORD.websocket[f"subscription {message['type']}"] += 1
                RECORD.note("subscription ended")
                return

    def _receive(self) -> dict[str, Any] | None:
        """Return the next protocol message, or None when the server closed."""
        assert self.socket is not None
        while True:
            opcode, data = self.socket.recv_data(control_frame=True)
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                code = int.from_bytes(data[:2], "big") if len(data) >= 2 else None
                RECORD.websocket[f"closed by server with code {code}"] += 1
                RECORD.note("websocket closed")
                return None
            if opcode in (websocket.ABNF.OPCODE_TEXT, websocket.ABNF.OPCODE_BINARY):
                break
        message: dict[str, Any] = orjson.loads(data)
        if message["type"] == "ping":
            self.socket.send(_json({"type": "pong"}))
        return message

    def _apply(self, update: dict[str, Any]) -> None:
        RECORD.websocket[f"message {update['kind']}"] += 1
        if update["kind"] == "SNAPSHOT":
            if self.codes is not None:
                # The server resynchronised this subscriber, after a gap.
                RECORD.websocket[f"resync snapshot: {update['reason']}"] += 1
                RECORD.note("websocket resync")
            codes = decode_availability(update["availability"], update["seatCount"])
            self.codes = bytearray(codes)
            self.version = update["version"]
            return
        if update["kind"] != "DELTA" or self.codes is None:
            return
        if update["fromVersion"] != self.version + 1:
            # A gap: close, so the watcher resubscribes from its version.
            RECORD.websocket["gaps"] += 1
            raise websocket.WebSocketException("version gap")
        for change in update["changes"]:
            self.codes[change["ordinal"]] = STATUS_BY_NAME[change["status"]]
        self.version = update["version"]


def _json(message: dict[str, Any]) -> str:
    return orjson.dumps(message).decode()


class Buyer(GraphQLUser):
    """A buyer who watches the seat map, holds, and mostly checks out and pays."""

    wait_time = between(0.5, 2.0)

    def on_start(self) -> None:
        self.committed = 0
        self.new_identity("buyer")
        self.watcher = SeatMapWatcher(self)

    def on_stop(self) -> None:
        self.watcher.stop()

    def new_identity(self, role: str) -> None:
        super().new_identity(role)
        self.committed = 0

    @task
    def purchase(self) -> None:
        count = self.rng.randint(1, SCENARIO["max_seats"])
        if self.committed + count > SCENARIO["max_seats_per_buyer"]:
            self.new_identity("buyer")

        hold = self._hold(self._select(count))
        if hold is None:
            return
        self.committed += len(hold["seatIds"])
        choice = self.rng.random()
        if choice < SCENARIO["abandon_share"]:
            gevent.sleep(self.rng.uniform(0.5, 2.0))
            self._release(hold)
            return
        if choice < SCENARIO["abandon_share"] + SCENARIO["expire_share"]:
            RECORD.outcomes["buyer let hold expire"] += 1
            return
        order = self._checkout(hold)
        if order is not None:
            self._pay(order, hold["seatIds"])

    def _select(self, count: int) -> dict[str, Any]:
        codes = self.watcher.codes
        if codes is None or self.rng.random() >= SCENARIO["explicit_share"]:
            return {"bestAvailable": {"count": count}}
        ordinals = choose_seats(bytes(codes), ROWS, count, self.rng)
        if not ordinals:
            return {"bestAvailable": {"count": count}}
        return {"seatIds": [GUIDS[ordinal] for ordinal in ordinals]}

    def _hold(self, selection: dict[str, Any]) -> dict[str, Any] | None:
        variables = {
            "input": {
                "eventId": SCENARIO["event_id"],
                "idempotencyKey": str(uuid.uuid4()),
                **selection,
            }
        }
        kind = "seatIds" if "seatIds" in selection else "bestAvailable"
        result = self._retry_busy(
            "holdSeats", HOLD_SEATS, variables, ("BUSY",), f"holdSeats({kind})"
        )
        if result is None:
            # The hold may exist; a new identity keeps the limit count right.
            self.new_identity("buyer")
            return None
        outcome = result_outcome(result)
        if outcome == "LIMIT_EXCEEDED":
            self.new_identity("buyer")
        return result if outcome == "Hold" else None

    def _retry_busy(
        self,
        operation: str,
        document: str,
        variables: dict[str, Any],
        retried: tuple[str, ...],
        label: str | None = None,
    ) -> dict[str, Any] | None:
        """Send a mutation, again with the same key while its result is retried.

        Outcomes are counted under `label`, by default the operation.
        """
        result: dict[str, Any] | None = None
        for attempt in range(RETRY_ATTEMPTS):
            data = self.execute(operation, document, variables)
            if data is None:
                return None
            result = data[operation]
            outcome = result_outcome(result)
            RECORD.outcome(label or operation, outcome)
            if outcome not in retried:
                return result
            gevent.sleep(self.rng.uniform(0.05, 0.2) * (attempt + 1))
        return result

    def _release(self, hold: dict[str, Any]) -> None:
        data = self.execute("releaseHold", RELEASE_HOLD, {"holdId": hold["id"]})
        if data is None:
            return
        outcome = result_outcome(data["releaseHold"])
        RECORD.outcome("releaseHold", outcome)
        if outcome == "Hold":
            self.committed -= len(hold["seatIds"])

    def _checkout(self, hold: dict[str, Any]) -> dict[str, Any] | None:
        variables = {
            "input": {"holdId": hold["id"], "idempotencyKey": str(uuid.uuid4())}
        }
        result = self._retry_busy("checkout", CHECKOUT, variables, ("BUSY",))
        if result is not None and result_outcome(result) == "Order":
            return result
        self._release(hold)
        return None

    def _pay(self, order: dict[str, Any], held: list[str]) -> None:
        variables = {
            "input": {
                "orderId": order["id"],
                "payment": {"token": "tok_approve"},
                "idempotencyKey": str(uuid.uuid4()),
            }
        }
        RECORD.pending_payments.add(order["id"])
        retried = ("BUSY", "PAYMENT_FAILED")
        result = self._retry_busy("payOrder", PAY_ORDER, variables, retried)
        if result is None:
            self._resolve(order, held)
            return
        RECORD.pending_payments.discard(order["id"])
        if result_outcome(result) == "Order" and result["status"] == "PAID":
            self._record_paid(result, held)

    def _resolve(self, order: dict[str, Any], held: list[str]) -> None:
        """Look up an order whose payOrder response was lost."""
        data = self.execute("order", ORDER, {"id": order["id"]})
        found = None if data is None else data["order"]
        if found is None:
            return
        RECORD.pending_payments.discard(order["id"])
        if found["status"] == "PAID":
            self._record_paid(found, held)

    def _record_paid(self, order: dict[str, Any], held: list[str]) -> None:
        ticket_seats = [ticket["seatId"] for ticket in order["tickets"]]
        RECORD.paid_order_ids.append(order["id"])
        RECORD.sold_seat_ids.extend(ticket_seats)
        if sorted(ticket_seats) != sorted(held):
            RECORD.ticket_mismatches += 1


class Bot(GraphQLUser):
    """A scalper script: holdSeats in a loop under one identity, never paying."""

    # A fixed number of bots, spawned before the buyers; none when 0.
    fixed_count = SCENARIO["bots"]
    weight = 0
    wait_time = constant(0)

    def on_start(self) -> None:
        self.new_identity("bot")

    def context(self) -> dict[str, Any]:
        return {"role": "bots"}

    @task
    def hammer_hold(self) -> None:
        variables = {
            "input": {
                "eventId": SCENARIO["event_id"],
                "idempotencyKey": str(uuid.uuid4()),
                "bestAvailable": {"count": SCENARIO["max_seats"]},
            }
        }
        data = self.execute("holdSeats", HOLD_SEATS, variables)
        if data is None:
            return
        outcome = result_outcome(data["holdSeats"])
        RECORD.outcome("holdSeats(bot)", outcome)
        if outcome in ("BUSY", "RATE_LIMITED"):
            gevent.sleep(0.1)


class TypenameProbe(GraphQLUser):
    """The cheapest GraphQL request in a loop, for the run's raw request rate."""

    wait_time = constant(0)

    def on_start(self) -> None:
        self.new_identity("probe")

    @task
    def typename(self) -> None:
        data = self.execute("__typename", TYPENAME, {})
        if data is not None:
            RECORD.outcome("__typename", "Typename")


GUIDS: list[str] = SCENARIO["guids"]
ROWS = [range(start, stop) for start, stop in SCENARIO["rows"]]
