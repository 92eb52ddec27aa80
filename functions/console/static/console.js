// The console's pages, rendered into the shell (index.html) from the path: /console/ and
// /console/consents (list), /console/consent?name=consents/ID (one consent and its exports),
// /console/connect (connect demo) and /console/connected (where the consent flow returns).
import { api, ApiError, CONSENT_STATES, END_REASONS, EXPORT_STATES, TERMINAL } from './api.js';

const PAGE_SIZE = 25;
const POLL_MS = 2000;
const PENDING_CONNECT = 'dp-console-connect';

/** A DOM element: attributes (`on*` are listeners) and children (strings become text, never HTML). */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) if (c !== undefined && c !== null && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}

const $ = (id) => document.getElementById(id);
const time = (iso) => (iso ? `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC` : '—');
const bytes = (n) => `${Number(n).toLocaleString('en')} bytes`;
const idOf = (name) => name.slice(name.indexOf('/') + 1);

function setTitle(text) {
  $('title').textContent = text;
  document.title = `${text} · Data portability console`;
}
function say(text) {
  $('status').textContent = text;
}
function alertError(error) {
  $('alert').textContent = error instanceof ApiError ? error.message : `Something went wrong in the console: ${error}`;
}
function clearAlert() {
  $('alert').textContent = '';
}

function markNav() {
  const path = location.pathname === '/console/' ? '/console/consents' : location.pathname;
  for (const a of document.querySelectorAll('nav a')) if (a.getAttribute('href') === path) a.setAttribute('aria-current', 'page');
}

function grantType(consent) {
  const types = new Set((consent.resources ?? []).map((r) => r.accessType));
  if (types.size === 0) return '—';
  if (types.size > 1) return 'Mixed: one-time and time-based';
  return types.has('TIME_BASED') ? 'Time-based (recurring)' : 'One-time';
}

function schedule(consent) {
  const s = consent.schedule;
  if (!s) return 'None (one-time)';
  if (s.paused) return 'Paused';
  return `Every ${s.intervalHours} h; next ${time(s.nextExportTime)}`;
}

// ---- consents ----

async function consentsPage() {
  setTitle('Consents');
  const params = new URLSearchParams(location.search);
  const appUserId = params.get('appUserId') ?? '';
  const pageToken = params.get('pageToken') ?? '';
  const form = h(
    'form',
    { role: 'search', 'aria-label': 'Filter consents', method: 'get', action: '/console/consents' },
    h(
      'div',
      { class: 'field' },
      h('label', { for: 'filter-app-user' }, 'App user id'),
      h('input', { type: 'search', id: 'filter-app-user', name: 'appUserId', value: appUserId, autocomplete: 'off' }),
    ),
    h('button', { type: 'submit' }, 'Filter'),
    appUserId ? h('a', { href: '/console/consents' }, 'Show all') : null,
  );
  const query = new URLSearchParams({ pageSize: String(PAGE_SIZE) });
  if (appUserId) query.set('appUserId', appUserId);
  if (pageToken) query.set('pageToken', pageToken);
  const body = await api(`/v1/consents?${query}`);
  const consents = body.consents ?? [];
  const rows = consents.map((c) =>
    h(
      'tr',
      {},
      h('td', {}, h('a', { href: `/console/consent?name=${encodeURIComponent(c.name)}` }, idOf(c.name))),
      h('td', {}, c.appUserId ?? '—'),
      h('td', {}, CONSENT_STATES[c.state] ?? c.state),
      h('td', {}, grantType(c)),
      h('td', {}, (c.resources ?? []).map((r) => r.resource).join(', ')),
      h('td', {}, time(c.expireTime)),
      h('td', {}, schedule(c)),
    ),
  );
  const next = new URLSearchParams(appUserId ? { appUserId } : {});
  if (body.nextPageToken) next.set('pageToken', body.nextPageToken);
  $('page').replaceChildren(
    form,
    h(
      'table',
      { id: 'consents' },
      h('caption', {}, appUserId ? `Consents of ${appUserId}` : 'Consents'),
      h('thead', {}, h('tr', {}, ...['Consent', 'App user', 'State', 'Grant', 'Resource groups', 'Expires', 'Schedule'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: 7 }, 'No consents yet. Connect a user to make one.'))),
    ),
    h(
      'nav',
      { class: 'pager', 'aria-label': 'Pages of consents' },
      pageToken ? h('a', { href: `/console/consents${appUserId ? `?appUserId=${encodeURIComponent(appUserId)}` : ''}` }, 'First page') : null,
      body.nextPageToken ? h('a', { href: `/console/consents?${next}`, rel: 'next' }, 'Next page') : null,
    ),
  );
  say(`${consents.length} consents shown`);
}

// ---- one consent and its exports ----

async function consentPage() {
  const name = new URLSearchParams(location.search).get('name') ?? '';
  if (!/^consents\/[A-Za-z0-9]+$/.test(name)) {
    setTitle('Consent');
    $('page').replaceChildren(h('p', {}, 'No consent named in the address. Pick one from the list of ', h('a', { href: '/console/consents' }, 'consents'), '.'));
    return;
  }
  setTitle(`Consent ${idOf(name)}`);
  const details = h('section', { 'aria-labelledby': 'details-title' });
  const actions = h('section', { 'aria-labelledby': 'actions-title' });
  const exportsSection = h('section', { 'aria-labelledby': 'exports-title' });
  $('page').replaceChildren(details, actions, exportsSection);
  let consent;
  let pageToken = '';
  const pageTokens = [];
  let rowsById = new Map();
  let lastStates = new Map();

  const renderConsent = () => {
    details.replaceChildren(
      h('h2', { id: 'details-title' }, 'Details'),
      h(
        'dl',
        { id: 'consent-details' },
        h('dt', {}, 'App user'),
        h('dd', {}, consent.appUserId ?? '— (not kept after the consent ended unconfirmed)'),
        h('dt', {}, 'State'),
        h('dd', { id: 'consent-state' }, CONSENT_STATES[consent.state] ?? consent.state, consent.detail ? ` (${consent.detail})` : ''),
        h('dt', {}, 'Grant'),
        h('dd', {}, grantType(consent)),
        h('dt', {}, 'Resource groups'),
        h('dd', {}, (consent.resources ?? []).map((r) => `${r.resource} (${r.accessType === 'TIME_BASED' ? 'time-based' : 'one-time'})`).join(', ') || '—'),
        h('dt', {}, 'Granted'),
        h('dd', {}, time(consent.grantTime)),
        h('dt', {}, 'Expires'),
        h('dd', {}, time(consent.expireTime)),
        h('dt', {}, 'Schedule'),
        h('dd', { id: 'consent-schedule' }, schedule(consent)),
      ),
    );
    const active = consent.state === 'ACTIVE';
    const ended = ['REVOKED', 'EXPIRED', 'CLOSED'].includes(consent.state);
    actions.replaceChildren(
      h('h2', { id: 'actions-title' }, 'Actions'),
      h(
        'button',
        {
          type: 'button',
          id: 'export-now',
          disabled: !active,
          onclick: () => act('Export requested', () => api('/v1/exports', { method: 'POST', body: { consent: name, requestId: `console-${Date.now()}` } })),
        },
        'Export now',
      ),
      consent.schedule
        ? h(
            'button',
            {
              type: 'button',
              id: 'toggle-schedule',
              class: 'secondary',
              disabled: !active,
              onclick: () =>
                act(consent.schedule.paused ? 'Schedule resumed' : 'Schedule paused', () =>
                  api(`/v1/${name}?updateMask=schedule.paused`, { method: 'PATCH', body: { schedule: { paused: !consent.schedule.paused } } }),
                ),
            },
            consent.schedule.paused ? 'Resume schedule' : 'Pause schedule',
          )
        : null,
      h('button', { type: 'button', id: 'revoke', class: 'danger', disabled: ended && consent.state === 'REVOKED', onclick: () => revoke(false) }, 'Revoke'),
      h('button', { type: 'button', id: 'revoke-erase', class: 'danger', onclick: () => revoke(true) }, 'Revoke and erase'),
      h(
        'p',
        { class: 'hint' },
        'Revoke stops running exports, releases the grant at Google and deletes the stored token. Revoke and erase also deletes every delivered archive of this consent.',
      ),
    );
  };

  const revoke = (erase) => {
    const what = erase
      ? 'Revoke this consent and erase every archive delivered for it? This cannot be undone.'
      : 'Revoke this consent? Running exports stop and the grant is released at Google.';
    if (!window.confirm(what)) return;
    act(erase ? 'Consent revoked and archives erased' : 'Consent revoked', () => api(`/v1/${name}:revoke`, { method: 'POST', body: erase ? { erase: true } : {} }));
  };

  const act = async (done, call) => {
    clearAlert();
    for (const b of document.querySelectorAll('main button')) b.disabled = true;
    try {
      await call();
      say(done);
      $('notice')?.remove();
      actions.after(h('p', { id: 'notice', class: 'notice' }, `${done}.`));
    } catch (error) {
      alertError(error);
    }
    await refresh();
  };

  const fileItem = (job, f) => {
    const total = f.bytes ?? f.totalBytes;
    const copied = f.state === 'DONE' ? f.bytes : f.bytesCopied;
    const label = `${f.name}: ${f.state === 'DONE' ? 'copied' : copied !== undefined ? 'copying' : job.state === 'TRANSFERRING' ? 'copying' : 'waiting'}`;
    const progress =
      copied !== undefined && total !== undefined
        ? h('progress', { max: total || 1, value: copied, 'aria-label': label })
        : copied !== undefined || job.state === 'TRANSFERRING'
          ? h('progress', { 'aria-label': label })
          : null;
    const amount =
      copied !== undefined ? (total !== undefined ? `${bytes(copied)} of ${bytes(total)}` : `${bytes(copied)} copied`) : f.state === 'DONE' ? 'copied' : 'not copied yet';
    return h(
      'li',
      { 'data-file': f.name },
      h('span', {}, f.name),
      ' ',
      progress,
      ' ',
      h('span', { class: 'muted amount' }, amount),
      f.state === 'DONE'
        ? [' ', h('a', { href: `/v1/exports/${idOf(job.name)}:download?file=${encodeURIComponent(f.name)}`, download: f.name, 'aria-label': `Download ${f.name}` }, 'Download')]
        : null,
    );
  };

  const exportRow = (job) => {
    const id = idOf(job.name);
    const running = !TERMINAL.has(job.state);
    const retryable = job.state === 'FAILED' || job.state === 'CANCELLED';
    const words = job.endReason ? END_REASONS[job.endReason] : undefined;
    return h(
      'tr',
      { 'data-export': id, 'data-state': job.state },
      h('td', {}, job.resource, h('div', { class: 'muted' }, id)),
      h(
        'td',
        {},
        h('span', { class: 'state' }, EXPORT_STATES[job.state] ?? job.state),
        job.state === 'WAITING' && job.notBeforeTime ? h('div', { class: 'muted' }, `until ${time(job.notBeforeTime)}`) : null,
        words || job.detail ? h('div', { class: 'error-words' }, words ?? '', words && job.detail ? ' ' : '', job.detail ? `(${job.detail})` : '') : null,
      ),
      h(
        'td',
        {},
        job.files?.length
          ? h(
              'ul',
              { class: 'files' },
              job.files.map((f) => fileItem(job, f)),
            )
          : h('span', { class: 'muted' }, 'no files yet'),
        job.manifest && job.state === 'DELIVERED'
          ? h('a', { href: `/v1/exports/${id}:download?file=manifest.json`, download: 'manifest.json', 'aria-label': `Download the manifest of ${job.resource}` }, 'Manifest')
          : null,
      ),
      h('td', {}, time(job.updateTime)),
      h(
        'td',
        {},
        running
          ? h(
              'button',
              { type: 'button', class: 'secondary', onclick: () => act(`Export ${job.resource} cancelled`, () => api(`/v1/exports/${id}:cancel`, { method: 'POST', body: {} })) },
              `Cancel ${job.resource}`,
            )
          : null,
        retryable
          ? h(
              'button',
              { type: 'button', onclick: () => act(`Export ${job.resource} retried`, () => api(`/v1/exports/${id}:retry`, { method: 'POST', body: {} })) },
              `Retry ${job.resource}`,
            )
          : null,
      ),
    );
  };

  const tbody = h('tbody');
  const pager = h('nav', { class: 'pager', 'aria-label': 'Pages of exports' });
  exportsSection.replaceChildren(
    h('h2', { id: 'exports-title' }, 'Exports'),
    h('p', { class: 'hint' }, 'Updated live every few seconds.'),
    h(
      'table',
      { id: 'exports' },
      h('caption', {}, 'Exports of this consent'),
      h('thead', {}, h('tr', {}, ...['Resource group', 'State', 'Files', 'Updated', 'Actions'].map((t) => h('th', { scope: 'col' }, t)))),
      tbody,
    ),
    pager,
  );

  const renderExports = (page) => {
    const jobs = page.exports ?? [];
    const fresh = new Map();
    const rows = jobs.map((job) => {
      const key = JSON.stringify(job);
      const old = rowsById.get(job.name);
      // Rows that did not change are kept as they are (keyboard focus stays where it was).
      const row = old && old.key === key ? old.row : exportRow(job);
      fresh.set(job.name, { key, row });
      const before = lastStates.get(job.name);
      if (before && before !== job.state) say(`${job.resource}: ${EXPORT_STATES[job.state] ?? job.state}`);
      lastStates.set(job.name, job.state);
      return row;
    });
    rowsById = fresh;
    tbody.replaceChildren(...(rows.length ? rows : [h('tr', {}, h('td', { colspan: 5 }, 'No exports yet.'))]));
    pager.replaceChildren(
      pageTokens.length ? h('button', { type: 'button', class: 'secondary', onclick: () => ((pageToken = pageTokens.pop() ?? ''), refresh()) }, 'Previous exports page') : '',
      page.nextPageToken
        ? h('button', { type: 'button', class: 'secondary', onclick: () => (pageTokens.push(pageToken), (pageToken = page.nextPageToken), refresh()) }, 'Next exports page')
        : '',
    );
  };

  let consentKey = '';
  const refresh = async () => {
    try {
      const query = new URLSearchParams({ consent: name, pageSize: '20' });
      if (pageToken) query.set('pageToken', pageToken);
      const [c, page] = await Promise.all([api(`/v1/${name}`), api(`/v1/exports?${query}`)]);
      consent = c;
      const key = JSON.stringify(c);
      if (key !== consentKey) {
        consentKey = key;
        renderConsent();
      }
      renderExports(page);
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) {
        consentKey = '';
        details.replaceChildren(h('p', { id: 'consent-gone' }, 'This consent no longer exists (erased).'));
        actions.replaceChildren();
        tbody.replaceChildren();
        return;
      }
      alertError(error);
    }
  };
  await refresh();
  const timer = setInterval(() => {
    if (!document.hidden) void refresh();
  }, POLL_MS);
  window.addEventListener('pagehide', () => clearInterval(timer));
}

// ---- connect demo ----

async function catalogue() {
  try {
    const body = await api('/v1/resourceGroups');
    const list = body.resourceGroups ?? body.groups ?? [];
    return list.map((g) => (typeof g === 'string' ? { name: g } : { name: g.name ?? g.resource ?? g.id, title: g.title, timeBased: g.timeBased ?? g.supportsTimeBased }));
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return undefined;
    throw error;
  }
}

async function connectPage() {
  setTitle('Connect a user');
  const groups = await catalogue();
  const returnUrl = `${location.origin}/console/connected`;
  const picker = groups
    ? h(
        'fieldset',
        {},
        h('legend', {}, 'Resource groups to ask for'),
        h(
          'div',
          { class: 'groups' },
          groups.map((g) => h('label', {}, h('input', { type: 'checkbox', name: 'resource', value: g.name }), ` ${g.title ? `${g.title} ` : ''}`, h('code', {}, g.name))),
        ),
      )
    : h(
        'div',
        { class: 'field' },
        h('label', { for: 'resources' }, 'Resource groups (names, separated by commas)'),
        h('input', { type: 'text', id: 'resources', name: 'resources', required: true, placeholder: 'myactivity.search, chrome.history' }),
      );
  const form = h(
    'form',
    { id: 'connect-form', 'aria-describedby': 'connect-help' },
    h(
      'p',
      { id: 'connect-help', class: 'hint' },
      'Starts a connect session as the application would, sends this browser through the consent page, and comes back here to confirm it.',
    ),
    h(
      'div',
      { class: 'field' },
      h('label', { for: 'app-user-id' }, 'App user id'),
      h('input', {
        type: 'text',
        id: 'app-user-id',
        name: 'appUserId',
        required: true,
        pattern: '[A-Za-z0-9_@+\\-][A-Za-z0-9._@+\\-]{0,127}',
        autocomplete: 'off',
        'aria-describedby': 'app-user-hint',
      }),
      h('span', { id: 'app-user-hint', class: 'hint' }, 'Letters, digits and . _ @ + - (not starting with a dot).'),
    ),
    picker,
    h(
      'div',
      { class: 'field' },
      h('label', {}, h('input', { type: 'checkbox', id: 'auto-start', name: 'autoStart', checked: true }), ' Start the exports as soon as the connection is confirmed'),
    ),
    h('button', { type: 'submit', id: 'connect' }, 'Connect'),
    h('p', { class: 'hint' }, `Returns to ${returnUrl}, which must be in RETURN_URL_ALLOWLIST.`),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearAlert();
    const data = new FormData(form);
    const resources = groups
      ? data.getAll('resource').map(String)
      : String(data.get('resources') ?? '')
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean);
    if (resources.length === 0) {
      $('alert').textContent = 'Pick at least one resource group.';
      return;
    }
    try {
      const session = await api('/v1/connectSessions', {
        method: 'POST',
        body: { appUserId: String(data.get('appUserId') ?? ''), resources, returnUrl, autoStart: data.get('autoStart') !== null, confirmation: 'CODE' },
      });
      // Only the browser that started a session confirms it when it comes back (see connectedPage).
      sessionStorage.setItem(PENDING_CONNECT, session.name);
      say('Going to the consent page');
      location.assign(session.connectUrl);
    } catch (error) {
      alertError(error);
    }
  });
  $('page').replaceChildren(form);
}

async function connectedPage() {
  setTitle('Connection');
  const params = new URLSearchParams(location.search);
  // The completion code must not stay in the address bar or the history.
  history.replaceState(null, '', '/console/connected');
  const outcome = params.get('outcome') ?? '';
  const consent = params.get('consent') ?? '';
  const session = params.get('session');
  const code = params.get('code');
  const started = sessionStorage.getItem(PENDING_CONNECT);
  const out = [];
  const link = /^consents\/[A-Za-z0-9]+$/.test(consent) ? h('a', { href: `/console/consent?name=${encodeURIComponent(consent)}`, id: 'consent-link' }, consent) : null;
  if (outcome === 'denied') out.push(h('p', { id: 'outcome' }, 'The user declined: nothing was granted.'));
  else if (outcome === 'error') out.push(h('p', { id: 'outcome' }, `The connection failed: ${params.get('reason') ?? 'no reason given'}.`));
  else if (outcome === 'granted' || outcome === 'partial') {
    out.push(h('p', { id: 'outcome' }, outcome === 'partial' ? 'The user granted some of the groups asked for.' : 'The user granted every group asked for.'));
    if (session && code) {
      if (started !== session) {
        out.push(h('p', { class: 'error-words' }, 'This browser did not start that connection, so the console does not confirm it. Start it again from Connect a user.'));
      } else {
        try {
          const confirmed = await api(`/v1/${session}:confirm`, { method: 'POST', body: { code } });
          sessionStorage.removeItem(PENDING_CONNECT);
          out.push(
            h(
              'p',
              { id: 'confirmed', class: 'notice' },
              `Confirmed: the consent is ${CONSENT_STATES[confirmed.state] ?? confirmed.state}; exports ${confirmed.exports ?? 'none'}.`,
            ),
          );
        } catch (error) {
          alertError(error);
        }
      }
    }
    if (link) out.push(h('p', {}, 'Consent: ', link));
  } else out.push(h('p', {}, 'Nothing to show: this page is where the consent flow comes back to.'));
  $('page').replaceChildren(...out);
}

const PAGES = {
  '/console/': consentsPage,
  '/console/consents': consentsPage,
  '/console/consent': consentPage,
  '/console/connect': connectPage,
  '/console/connected': connectedPage,
};

markNav();
(PAGES[location.pathname] ?? consentsPage)().catch((error) => {
  alertError(error);
  if ($('title').textContent === 'Loading…') setTitle('Console');
});
