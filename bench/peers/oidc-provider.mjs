// node-oidc-provider as a peer in `lintel-bench --peers`: the client credentials grant with opaque access tokens
// and token introspection, over HTTPS with the same certificate as the other peers.
//
//   node oidc-provider.mjs PORT CERT KEY CLIENT_ID CLIENT_SECRET
import fs from 'node:fs';
import https from 'node:https';
import Provider from 'oidc-provider';

const [port, cert, key, clientId, clientSecret] = process.argv.slice(2);
const provider = new Provider(`https://localhost:${port}`, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
  }],
  features: {
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    devInteractions: { enabled: false },
  },
});
// Its default console warnings (development keys, memory adapter) are expected here.
https.createServer({ cert: fs.readFileSync(cert), key: fs.readFileSync(key) }, provider.callback())
  .listen(Number(port), '127.0.0.1');
