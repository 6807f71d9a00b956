// node-oidc-provider as an OpenID Connect identity provider for Lintel's federation tests: the client credentials
// grant, issuing RFC 9068 JWT access tokens whose audience is the Lintel under test, over HTTPS on loopback.
//
//   node idp.mjs PORT CERT KEY CLIENT_ID CLIENT_SECRET AUDIENCE
import fs from 'node:fs';
import https from 'node:https';
import Provider from 'oidc-provider';

const [port, cert, key, clientId, clientSecret, audience] = process.argv.slice(2);
const provider = new Provider(`https://127.0.0.1:${port}`, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    scope: 'lintel',
  }],
  scopes: ['lintel'],
  features: {
    clientCredentials: { enabled: true },
    devInteractions: { enabled: false },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => audience,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: 'lintel',
        audience,
        accessTokenFormat: 'jwt',
        accessTokenTTL: 600,
        jwt: { sign: { alg: 'RS256' } },
      }),
    },
  },
});
// Its default console warnings (development keys, memory adapter) are expected here.
https.createServer({ cert: fs.readFileSync(cert), key: fs.readFileSync(key) }, provider.callback())
  .listen(Number(port), '127.0.0.1');
