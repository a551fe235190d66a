#!/usr/bin/env node
// Watch one event's live seat map over graphql-transport-ws with the
// graphql-ws client, as a partner application in Node.js would.
//
// Prints each execution result ({"data": ...} or {"errors": ...}) as one JSON
// line on stdout. Exit codes: 0 after --count results, 1 when the server
// closes the socket or the subscription fails, 2 for invalid arguments,
// 3 when --timeout-ms passes first.
import { parseArgs } from "node:util";

import { createClient } from "graphql-ws";
import WebSocket from "ws";

const USAGE = `usage: node watch-seat-map.mjs --url ws://HOST:PORT/graphql --event-id ID
       [--token JWT] [--since-version N] [--count N] [--timeout-ms MS]

--token defaults to the SEATLINE_TOKEN environment variable; it is sent in
connection_init as {"Authorization": "Bearer <token>"}. --count defaults to
2 results and --timeout-ms to 20000 milliseconds.`;

const SEAT_MAP_UPDATES = `
  subscription Watch($eventId: ID!, $sinceVersion: Int) {
    seatMapUpdates(eventId: $eventId, sinceVersion: $sinceVersion) {
      kind version fromVersion seatCount availability reason
      changes { seatId ordinal status }
    }
  }
`;

function fail(code, message) {
  process.stderr.write(`watch-seat-map: ${message}\n`);
  process.exit(code);
}

function integerOption(name, text, minimum) {
  const value = Number(text);
  if (!Number.isInteger(value) || value < minimum) {
    const quoted = JSON.stringify(text);
    fail(2, `invalid --${name} ${quoted}: expected an integer >= ${minimum}\n${USAGE}`);
  }
  return value;
}

function readOptions() {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        url: { type: "string" },
        "event-id": { type: "string" },
        token: { type: "string" },
        "since-version": { type: "string" },
        count: { type: "string", default: "2" },
        "timeout-ms": { type: "string", default: "20000" },
      },
    }));
  } catch (error) {
    fail(2, `${error.message}\n${USAGE}`);
  }
  if (!values.url || !values["event-id"]) {
    fail(2, `missing --url or --event-id\n${USAGE}`);
  }
  const sinceVersion = values["since-version"];
  return {
    url: values.url,
    eventId: values["event-id"],
    token: values.token ?? process.env.SEATLINE_TOKEN,
    sinceVersion:
      sinceVersion === undefined
        ? null
        : integerOption("since-version", sinceVersion, 0),
    count: integerOption("count", values.count, 1),
    timeoutMs: integerOption("timeout-ms", values["timeout-ms"], 1),
  };
}

function describeClose(event) {
  // graphql-ws rejects the iterator with the socket's CloseEvent when the
  // server closes the connection (for example 4403 for an invalid token).
  if (event && typeof event.code === "number") {
    const reason = event.reason || "no reason given";
    return `socket closed with code ${event.code}: ${reason}`;
  }
  // A failed connection rejects with the socket's ErrorEvent or an Error.
  return event?.message || String(event);
}

async function main() {
  const options = readOptions();
  const connectionParams = options.token
    ? { Authorization: `Bearer ${options.token}` }
    : {};
  const client = createClient({
    url: options.url,
    webSocketImpl: WebSocket,
    connectionParams,
    // A test client reports a lost connection instead of reconnecting.
    retryAttempts: 0,
  });
  const timer = setTimeout(() => {
    const waited = `${options.timeoutMs} ms waiting for ${options.count} results`;
    fail(3, `timed out after ${waited}`);
  }, options.timeoutMs);

  let received = 0;
  try {
    const results = client.iterate({
      query: SEAT_MAP_UPDATES,
      variables: { eventId: options.eventId, sinceVersion: options.sinceVersion },
    });
    for await (const result of results) {
      process.stdout.write(`${JSON.stringify(result)}\n`);
      received += 1;
      if (received >= options.count) {
        break;
      }
    }
  } catch (error) {
    fail(1, describeClose(error));
  } finally {
    clearTimeout(timer);
    await client.dispose();
  }
  if (received < options.count) {
    fail(1, `subscription completed after ${received} of ${options.count} results`);
  }
}

await main();
