import { sendJson } from '../lib/http.js';
import type { SandboxModule } from '../lib/router.js';
import type { OidcIssuer } from './issuer.js';

const CERT_CACHE = { 'Cache-Control': 'public, max-age=3600, must-revalidate, no-transform' };

export function oidcModule(deps: { issuer: OidcIssuer; baseUrl: () => string }): SandboxModule {
  const { issuer } = deps;
  return {
    name: 'oidc',
    routes: [
      {
        methods: ['GET'],
        path: /^\/\.well-known\/openid-configuration$/,
        style: 'google',
        handle: (ctx) => sendJson(ctx.res, 200, issuer.discovery(deps.baseUrl()), CERT_CACHE),
      },
      { methods: ['GET'], path: /^\/oauth2\/v3\/certs$/, style: 'google', handle: (ctx) => sendJson(ctx.res, 200, issuer.jwks(), CERT_CACHE) },
      { methods: ['GET'], path: /^\/oauth2\/v1\/certs$/, style: 'google', handle: (ctx) => sendJson(ctx.res, 200, issuer.pemCerts(), CERT_CACHE) },
    ],
  };
}
