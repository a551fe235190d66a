// Start GraphiQL against the GraphQL endpoint that served this page: queries
// and mutations go over HTTP POST, subscriptions over graphql-transport-ws on
// the same path. GraphiQL sends the headers from its Headers tab with both.
// For subscriptions they become the connection_init payload, which is where
// seatline reads {"Authorization": "Bearer <token>"}.
(function () {
  "use strict";

  const DEFAULT_QUERY = `# seatline GraphiQL
#
# Queries and mutations go over HTTP, subscriptions over a
# websocket on this URL. For calls that need a token, put
#   {"Authorization": "Bearer <token>"}
# in the Headers tab (mint one with \`seatline token\`).
# Seat maps are public.

query Events {
  events(first: 5) {
    edges { node { id name status seatMap { version seatCount } } }
  }
}

subscription SeatMap($eventId: ID!) {
  seatMapUpdates(eventId: $eventId) {
    kind version fromVersion
    changes { seatId status }
  }
}
`;

  const endpoint = window.location.origin + window.location.pathname;
  const subscriptionUrl = endpoint.replace(/^http/, "ws");

  // A token in the fragment (/graphql#token=<jwt>) pre-fills the Headers tab.
  // Browsers never send the fragment to a server, and the page removes it
  // from the address bar so it does not end up in bookmarks or screenshots.
  function takeTokenFromFragment() {
    const fragment = new URLSearchParams(window.location.hash.slice(1));
    const token = fragment.get("token");
    if (!token) {
      return null;
    }
    history.replaceState(null, "", window.location.pathname + window.location.search);
    return token;
  }

  const token = takeTokenFromFragment();
  const props = {
    fetcher: GraphiQL.createFetcher({ url: endpoint, subscriptionUrl }),
    defaultQuery: DEFAULT_QUERY,
    defaultEditorToolsVisibility: true,
    // Tokens stay out of localStorage, so a reload needs the fragment again.
    shouldPersistHeaders: false,
  };
  if (token) {
    props.headers = JSON.stringify({ Authorization: `Bearer ${token}` }, null, 2);
    props.defaultEditorToolsVisibility = "headers";
  }

  const root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(React.createElement(GraphiQL, props));
})();
