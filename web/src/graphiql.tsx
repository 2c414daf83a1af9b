// GraphiQL, bundled (no CDN): served by Aurora at GET /graphql. Queries go to POST /graphql,
// subscriptions to /graphql/ws; the headers editor's Authorization header is sent with both
// (for WebSockets as the connection_init payload).
import 'graphiql/setup-workers/vite';
import 'graphiql/style.css';
import { createRoot } from 'react-dom/client';
import { GraphiQL } from 'graphiql';
import { createGraphiQLFetcher } from '@graphiql/toolkit';

const ws = `${window.location.protocol === 'https:' ? 'wss:' : 'ws:'}//${window.location.host}/graphql/ws`;
const fetcher = createGraphiQLFetcher({ url: '/graphql', subscriptionUrl: ws });

let token: string | null = null;
try {
  token = sessionStorage.getItem('aurora.token');
} catch {
  token = null;
}

const headers = JSON.stringify({ Authorization: `Bearer ${token ?? '<paste a token here>'}` }, null, 2);

const query = `# Aurora's GraphQL API.
#
# Every operation but login needs a token: put it in the Headers tab below as
#   {"Authorization": "Bearer <token>"}
# (it is also sent as the WebSocket connection_init payload for subscriptions).
# ${token ? 'The token of your Aurora session in this tab is filled in already.' : 'Get one with the login mutation (then paste it into Headers):'}
#
# mutation { login(username: "admin", password: "…") { token expiresAt } }

query Runs {
  graphs(first: 10) {
    nodes { id name state submittedAt taskCounts { total success failure } }
    pageInfo { hasNextPage endCursor }
  }
}
`;

createRoot(document.getElementById('graphiql')!).render(
  <GraphiQL fetcher={fetcher} defaultQuery={query} initialHeaders={headers} defaultEditorToolsVisibility="headers" shouldPersistHeaders={false} />,
);
