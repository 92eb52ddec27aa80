import { escapeHtml } from '../lib/http.js';
import type { AuthRequest } from './authorize-request.js';

export const CONSENT_FORM_PATH = '/o/oauth2/v2/auth/consent';

/** The consent page: requested groups as checkboxes, the duration, the user, Allow / Deny. */
export function consentPage(consentId: string, request: AuthRequest, user: string): string {
  const groups = request.groups
    .map(
      (g, i) => `      <li><label><input type="checkbox" name="resource" value="${escapeHtml(g)}" id="resource-${i}" data-resource="${escapeHtml(g)}" checked>
        <span>${escapeHtml(g)}</span></label></li>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Sign in - Google Accounts (sandbox)</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font-family:system-ui,sans-serif;max-width:42rem;margin:2rem auto;padding:0 1rem;color:#202124}
fieldset{border:1px solid #dadce0;border-radius:8px;margin:1rem 0;padding:1rem}
ul{list-style:none;padding:0}li{margin:.3rem 0}
button{padding:.5rem 1.5rem;margin-right:1rem;border-radius:4px;border:1px solid #dadce0;cursor:pointer}
button[value=allow]{background:#1a73e8;color:#fff;border-color:#1a73e8}
</style></head>
<body>
<h1>Sandbox wants to access your Google Account data</h1>
<p>Client <code id="client-id">${escapeHtml(request.clientId)}</code> asks for a copy of the data below.</p>
<form method="post" action="${CONSENT_FORM_PATH}">
  <input type="hidden" name="consent_id" value="${escapeHtml(consentId)}">
  <fieldset><legend>Google Account</legend>
    <label>Signed in as <input type="email" name="user" id="user" value="${escapeHtml(user)}" required maxlength="320"></label>
  </fieldset>
  <fieldset><legend>Select what to share</legend>
    <ul id="resources">
${groups}
    </ul>
  </fieldset>
  <fieldset><legend>How long do you want to allow access?</legend>
    <label><input type="radio" name="duration" value="ONE_TIME" id="duration-one-time" checked> One-time access</label><br>
    <label><input type="radio" name="duration" value="DAYS_30" id="duration-30-days"> 30 days</label><br>
    <label><input type="radio" name="duration" value="DAYS_180" id="duration-180-days"> 180 days</label>
  </fieldset>
  <button type="submit" name="action" value="deny" id="deny">Deny</button>
  <button type="submit" name="action" value="allow" id="allow">Allow</button>
</form>
</body></html>
`;
}
