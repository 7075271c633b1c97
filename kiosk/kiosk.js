// The kiosk: a shared tablet that asks its questions with big faces, keeps every answer in
// its own outbox until the server has it, and runs for days without a connection. Paired
// once with a code (server/kiosk.py); what it does offline and after a revocation is in
// docs/kiosk.md.

import { request } from './api.js';
import { forget, pinMatches, read, write } from './device.js';
import { h, replace } from './dom.js';
import { faceLabel, faceSvg } from './faces.js';
import { LANGUAGES, language, load, pickLanguage, plural, t } from './i18n.js';
import { Outbox } from './outbox.js';

const THANKS_MS = 3000; // the thank-you screen, then back to the first question
// A new round takes no tap until this long after the last one ended: the faces come back
// after the thanks, but stay disabled a moment longer, so one person cannot flood the kiosk.
const LOCK_MS = 4000;
const IDLE_MS = 20000; // anywhere but the first question: back there after this long untouched
const SETTINGS_IDLE_MS = 120000;
const CORNER_TAPS = 5; // the hidden way to the settings: taps on the corner ...
const CORNER_MS = 3000; // ... within this long, then the PIN
const HEARTBEAT_MS = 5 * 60 * 1000;
const HEARTBEAT_AFTER_SYNC_MS = 60 * 1000;
// Question kinds whose answers may carry the contact reference of the kiosk's address.
const CONTACT_KINDS = new Set(['customer_csat', 'customer_nps']);

// The device token is the outbox's holder: kept in the outbox's own database, so the service
// worker sends the answers without this page.
const outbox = new Outbox({ name: 'kiosk', batchSize: 500 });
const screen = document.getElementById('screen');
const statusLine = document.getElementById('status');
const corner = document.getElementById('corner');
const params = new URLSearchParams(location.search);
// A counter device that knows the transaction opens /kiosk/?ref=...: kept with each answer.
const contactRef = (params.get('ref') || '').trim().slice(0, 100) || null;

const state = {
  kept: null, // {kiosk: the server's KioskConfig, questions: [...]}
  step: 0,
  lockedUntil: -Infinity,
  pending: null, // a customer's answer waiting for the follow-up
  timer: null,
  idle: null,
  view: 'loading',
  cornerTaps: [],
  lastBeat: -Infinity,
  wake: null,
};

// --- screens ---------------------------------------------------------------------------

function render(view, nodes, { form = false, idle = 0 } = {}) {
  clearTimeout(state.timer);
  clearTimeout(state.idle);
  state.view = view;
  screen.className = `kiosk-screen${form ? ' form' : ''}`;
  screen.dataset.view = view;
  replace(screen, nodes);
  state.idleFor = idle;
  restartIdle();
}

function restartIdle() {
  clearTimeout(state.idle);
  if (state.idleFor) state.idle = setTimeout(onIdle, state.idleFor);
}

function onIdle() {
  if (state.pending) keepPending(null);
  else start();
}

function later(ms, work) {
  clearTimeout(state.timer);
  state.timer = setTimeout(work, ms);
}

const questionText = (question) => question.texts[language()] || question.texts.nl;
const range = (min, max) => Array.from({ length: max - min + 1 }, (_, i) => min + i);

function start() {
  if (!state.kept) return showPair('');
  state.pending = null;
  showQuestion(0);
}

function showQuestion(step) {
  const question = state.kept.questions[step];
  if (!question) return showThanks();
  state.step = step;
  const { min, max } = question.scale;
  const smiley = min === 1;
  const buttons = range(min, max).map((value) => (smiley
    ? h('button', { type: 'button', class: 'face', 'data-value': value, onclick: () => tap(question, value) },
      h('span', { class: 'drawing', svg: faceSvg(value, min, max) }),
      h('span', { class: 'label' }, faceLabel(value, min, max)))
    : h('button', { type: 'button', 'data-value': value, onclick: () => tap(question, value) }, String(value))));
  const group = smiley
    ? h('div', { class: `faces n${max - min + 1}`, role: 'group', 'aria-labelledby': 'question' }, buttons)
    : h('div', { class: 'scale', role: 'group', 'aria-labelledby': 'question' }, buttons);
  const ends = smiley ? null : h('div', { class: 'scale-ends', 'aria-hidden': 'true' },
    h('span', {}, t('kiosk.nps.low')), h('span', {}, t('kiosk.nps.high')));
  render('question', [h('h1', { id: 'question' }, questionText(question)), group, ends], {
    idle: step > 0 ? IDLE_MS : 0,
  });
  const wait = step === 0 ? state.lockedUntil - Date.now() : 0;
  if (wait > 0) {
    for (const button of buttons) button.setAttribute('aria-disabled', 'true');
    later(wait, () => buttons.forEach((button) => button.removeAttribute('aria-disabled')));
  }
}

async function tap(question, value) {
  const now = Date.now();
  // A second tap while the first is being kept (a double tap) counts once.
  if (state.busy || (state.step === 0 && now < state.lockedUntil)) return;
  state.busy = true;
  try {
    goFullScreen();
    const answer = { id: crypto.randomUUID(), question: question.id, value, answered_at: new Date(now).toISOString() };
    if (contactRef && CONTACT_KINDS.has(question.kind)) answer.contact_ref = contactRef;
    const { kiosk } = state.kept;
    if (kiosk.mode === 'customer' && question.scale.min === 1 && kiosk.reasons.length) {
      state.pending = answer;
      showFollowUp();
    } else if (await keep(answer)) {
      showQuestion(state.step + 1);
    }
  } finally {
    state.busy = false;
  }
}

function showFollowUp() {
  const reasons = state.kept.kiosk.reasons.map((reason) => h('button', { type: 'button', onclick: () => keepPending(reason) }, reason));
  render('followup', [
    h('h1', { id: 'followup' }, t('kiosk.followup.title')),
    h('div', { class: 'reasons', role: 'group', 'aria-labelledby': 'followup' }, reasons),
    h('button', { type: 'button', class: 'quiet skip', onclick: () => keepPending(null) }, t('kiosk.followup.skip')),
  ], { idle: IDLE_MS });
}

/** The customer's answer with the reason chosen (or none, skipped or walked away). */
async function keepPending(reason) {
  const answer = state.pending;
  state.pending = null;
  if (!answer) return start();
  if (reason) answer.reason = reason;
  if (await keep(answer)) showQuestion(state.step + 1);
}

/** Keep an answer on this tablet (on disk before the screen says thanks), then send. */
async function keep(answer) {
  try {
    await outbox.add(answer);
  } catch (error) {
    statusLine.textContent = t('kiosk.error.storage');
    return false;
  }
  sync();
  return true;
}

function showThanks() {
  const mode = state.kept.kiosk.mode;
  state.lockedUntil = Date.now() + LOCK_MS;
  render('thanks', [
    h('div', { class: 'thanks stack' },
      h('p', { class: 'tick', 'aria-hidden': 'true' }, '✓'),
      h('h1', {}, t('kiosk.thanks')),
      h('p', { class: 'lead' }, t(`kiosk.thanks.${mode}`))),
  ]);
  later(THANKS_MS, start);
}

// --- pairing ---------------------------------------------------------------------------

function codeForm(code, error) {
  const input = h('input', {
    id: 'code', name: 'code', class: 'code', autocomplete: 'off', autocapitalize: 'characters',
    spellcheck: 'false', maxlength: '12', value: code,
    'aria-invalid': error ? 'true' : null, 'aria-describedby': error ? 'pair-error' : null,
  });
  const form = h('form', { class: 'stack', novalidate: true, onsubmit: (event) => {
    event.preventDefault();
    pairWith(input.value, form);
  } },
  h('label', { for: 'code' }, t('kiosk.pair.code')),
  input,
  error ? h('p', { id: 'pair-error', class: 'field-error', role: 'alert' }, error) : null,
  h('button', { type: 'submit', id: 'pair' }, t('kiosk.pair.submit')));
  return form;
}

async function showPair(code, error = null) {
  const { others } = await outbox.entries();
  render('pair', [
    h('h1', {}, t('kiosk.pair.title')),
    h('p', {}, t('kiosk.pair.intro')),
    others ? h('p', { class: 'alert warn' }, plural('kiosk.other', others)) : null,
    codeForm(code, error),
  ], { form: true });
}

async function showUnpaired(code = '', error = null) {
  const waiting = (await outbox.all()).length;
  render('unpaired', [
    h('div', { class: 'alert bad', role: 'alert' },
      h('span', { class: 'icon', 'aria-hidden': 'true' }, '!'),
      h('div', { class: 'stack' },
        h('h1', {}, t('kiosk.unpaired.title')),
        h('p', {}, t('kiosk.unpaired.text')),
        waiting ? h('p', { id: 'kept' }, plural('kiosk.unpaired.kept', waiting)) : null)),
    codeForm(code, error),
  ], { form: true });
}

function pairError(response) {
  const reason = response.data && response.data.reason;
  if (reason === 'throttled') {
    const minutes = Math.max(1, Math.ceil((response.data.retry_after || 60) / 60));
    return t('kiosk.pair.throttled', { minutes });
  }
  if (['wrong', 'expired', 'used'].includes(reason)) return t(`kiosk.pair.${reason}`);
  return t('kiosk.pair.failed', { status: response.status });
}

async function pairWith(code, form) {
  const button = form.querySelector('button');
  button.disabled = true;
  button.textContent = t('kiosk.pair.busy');
  const again = (error) => (state.view === 'unpaired' ? showUnpaired(code, error) : showPair(code, error));
  let response;
  try {
    response = await request('POST', '/api/v1/kiosk/pair', { body: { code } });
  } catch (error) {
    return again(t('kiosk.pair.offline'));
  }
  if (!response.ok) return again(pairError(response));
  const { token, kiosk } = response.data;
  const questions = await fetchQuestions(token);
  if (!questions) return again(t('kiosk.pair.offline'));
  // Answers kept under this kiosk's id (paired again after a revocation) go out now; those
  // of another kiosk wait for that one (outbox: only the holder's entries are sent).
  await outbox.setHolder(kiosk.id, { token });
  state.kept = { kiosk, questions };
  await write('config', state.kept);
  await write('unpaired', false);
  history.replaceState(null, '', contactRef ? `/kiosk/?ref=${encodeURIComponent(contactRef)}` : '/kiosk/');
  goFullScreen();
  start();
  sync({ beat: true });
}

async function fetchQuestions(token) {
  try {
    const response = await request('GET', '/api/v1/questions', { headers: { Authorization: `Bearer ${token}` } });
    if (!response.ok) return null;
    const order = new Map((state.kept ? state.kept.kiosk.questions : []).map((id, i) => [id, i]));
    return response.data.questions.sort((a, b) => (order.get(a.id) ?? a.id) - (order.get(b.id) ?? b.id));
  } catch (error) {
    return null;
  }
}

/** The server no longer knows this tablet's token: say so, keep every answer. */
async function lost() {
  await write('unpaired', true);
  if (!['unpaired', 'pair', 'pin', 'settings'].includes(state.view)) showUnpaired();
}

// --- sending and the heartbeat ----------------------------------------------------------

async function sync({ beat = false } = {}) {
  const { holder } = await outbox.entries();
  if (!holder.token) return;
  const result = await outbox.flush();
  if (result.outcome === 'auth') return lost();
  showStatus();
  if (beat || Date.now() - state.lastBeat > HEARTBEAT_AFTER_SYNC_MS) heartbeat();
}

async function release() {
  if (typeof caches === 'undefined') return '';
  const name = (await caches.keys()).find((n) => n.startsWith('spiegel-kiosk-'));
  return name ? name.slice('spiegel-kiosk-'.length) : '';
}

async function heartbeat() {
  const { token } = await outbox.holder();
  if (!token) return;
  state.lastBeat = Date.now();
  const body = { queued: (await outbox.all()).length, release: await release() };
  let response;
  try {
    response = await request('POST', '/api/v1/kiosk/heartbeat', { body, headers: { Authorization: `Bearer ${token}` } });
  } catch (error) {
    return;
  }
  if (response.status === 401) return lost();
  if (response.ok) await adopt(response.data, token);
}

/** Settings changed on the server (name, team, questions, reasons): take them over. */
async function adopt(kiosk, token) {
  const before = state.kept;
  if (!before || before.kiosk.id !== kiosk.id) return;
  const sameQuestions = JSON.stringify(before.kiosk.questions) === JSON.stringify(kiosk.questions);
  const questions = sameQuestions ? before.questions : await fetchQuestions(token);
  state.kept = { kiosk, questions: questions || before.questions };
  await write('config', state.kept);
  if (await read('unpaired')) await write('unpaired', false);
  if (!sameQuestions && state.view === 'question' && state.step === 0) showQuestion(0);
}

/** The waiting count, at most a few times a second: a sync of thousands of answers changes
 * the outbox many times, and each count reads it whole. */
function showStatus() {
  if (!state.statusSoon) state.statusSoon = setTimeout(countWaiting, 250);
}

async function countWaiting() {
  state.statusSoon = null;
  const { mine } = await outbox.entries();
  const waiting = mine.filter((entry) => entry.state === 'queued').length;
  // Unpaired, they wait for a pairing, not a connection: that screen says so itself.
  const paired = !['pair', 'unpaired'].includes(state.view);
  statusLine.textContent = waiting && paired ? plural('kiosk.waiting', waiting) : '';
}

// --- the kiosk's own settings, behind a hidden gesture and the PIN ------------------------

function onCorner() {
  const now = Date.now();
  state.cornerTaps = [...state.cornerTaps.filter((at) => now - at < CORNER_MS), now];
  if (state.cornerTaps.length >= CORNER_TAPS && state.kept) {
    state.cornerTaps = [];
    if (state.pending) keepPending(null);
    showPin();
  }
}

function showPin(error = null) {
  const input = h('input', {
    id: 'pin', type: 'password', inputmode: 'numeric', autocomplete: 'off', maxlength: '8',
    'aria-invalid': error ? 'true' : null, 'aria-describedby': error ? 'pin-error' : null,
  });
  const form = h('form', { class: 'stack', novalidate: true, onsubmit: async (event) => {
    event.preventDefault();
    if (await pinMatches(input.value, state.kept.kiosk.pin)) showSettings();
    else showPin(t('kiosk.settings.pin_wrong'));
  } },
  h('label', { for: 'pin' }, t('kiosk.settings.pin')),
  input,
  error ? h('p', { id: 'pin-error', class: 'field-error', role: 'alert' }, error) : null,
  h('div', { class: 'actions' },
    h('button', { type: 'submit' }, t('kiosk.settings.pin_submit')),
    h('button', { type: 'button', class: 'secondary', onclick: start }, t('kiosk.settings.cancel'))));
  render('pin', [h('h1', {}, t('kiosk.settings.pin_title')), form], { form: true, idle: IDLE_MS });
  input.focus();
}

async function showSettings(note = null) {
  const { kiosk } = state.kept;
  const { mine, others } = await outbox.entries();
  const languages = h('div', { class: 'languages', role: 'group', 'aria-labelledby': 'language-label' },
    LANGUAGES.map((code) => h('button', {
      type: 'button', 'aria-pressed': String(code === language()),
      onclick: async () => {
        await write('language', code);
        await load(code);
        corner.setAttribute('aria-label', t('kiosk.settings.open'));
        showStatus();
        showSettings();
      },
    }, t(`kiosk.language.${code}`))));
  render('settings', [
    h('h1', {}, t('kiosk.settings.title')),
    h('p', {}, t('kiosk.settings.about', { name: kiosk.name, team: kiosk.team, release: (await release()) || '–' })),
    mine.length ? h('p', {}, plural('kiosk.waiting', mine.length)) : null,
    others ? h('p', {}, plural('kiosk.other', others)) : null,
    h('p', { id: 'language-label' }, h('strong', {}, t('kiosk.settings.language'))),
    languages,
    h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'secondary', id: 'test', onclick: testConnection }, t('kiosk.settings.test'))),
    note ? h('p', { id: 'test-result', role: 'status' }, note) : null,
    h('p', { class: 'muted' }, t('kiosk.settings.unpair_help')),
    h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'secondary', id: 'unpair', onclick: unpair }, t('kiosk.settings.unpair')),
      h('button', { type: 'button', id: 'close', onclick: start }, t('kiosk.settings.close'))),
  ], { form: true, idle: SETTINGS_IDLE_MS });
}

async function testConnection() {
  const { token } = await outbox.holder();
  let response;
  try {
    response = await request('GET', '/api/v1/kiosk', { headers: { Authorization: `Bearer ${token}` }, timeout: 10000 });
  } catch (error) {
    return showSettings(t('kiosk.settings.test_fail'));
  }
  if (response.status === 401) {
    await write('unpaired', true);
    return showSettings(t('kiosk.settings.test_auth'));
  }
  if (response.ok) sync({ beat: true });
  return showSettings(t(response.ok ? 'kiosk.settings.test_ok' : 'kiosk.settings.test_fail'));
}

async function unpair() {
  const { token } = await outbox.holder();
  // Best effort: offline, the token is only forgotten here; the admin can revoke it.
  request('POST', '/api/v1/kiosk/unpair', { headers: { Authorization: `Bearer ${token}` }, timeout: 5000 })
    .catch(() => {});
  await outbox.clearHolder();
  await forget('config');
  state.kept = null;
  statusLine.textContent = '';
  showPair('');
}

// --- the device: full screen, awake, nowhere to go -------------------------------------

function goFullScreen() {
  const root = document.documentElement;
  if (!document.fullscreenElement && root.requestFullscreen) root.requestFullscreen().catch(() => {});
}

async function keepAwake() {
  if (!navigator.wakeLock || document.visibilityState !== 'visible') return;
  try {
    state.wake = await navigator.wakeLock.request('screen');
  } catch (error) {
    state.wake = null; // refused (battery saver, no permission): the tablet's own setting rules
  }
}

function stayHere() {
  // A passer-by's back gesture lands on this same page; no menu, no selection, no links.
  history.pushState(null, '', location.href);
  addEventListener('popstate', () => history.pushState(null, '', location.href));
  addEventListener('contextmenu', (event) => event.preventDefault());
}

async function boot() {
  const [kept, chosen, unpaired, holder] = await Promise.all([
    read('config'), read('language'), read('unpaired'), outbox.holder(),
  ]);
  await load(pickLanguage(chosen));
  corner.setAttribute('aria-label', t('kiosk.settings.open'));
  corner.addEventListener('click', onCorner);
  stayHere();
  state.kept = holder.token && kept && kept.kiosk.id === holder.owner ? kept : null;
  const page = location.pathname;
  if (!state.kept || page === '/kiosk/pair') await showPair(params.get('code') || '');
  else if (unpaired) await showUnpaired();
  else if (page === '/kiosk/settings') showPin();
  else start();
  if ('serviceWorker' in navigator) {
    navigator.serviceWorker.register('/kiosk/sw.js', { type: 'module', scope: '/kiosk/' }).catch(() => {});
  }
  outbox.addEventListener('change', () => showStatus());
  addEventListener('online', () => sync({ beat: true }));
  addEventListener('pointerdown', restartIdle, { capture: true });
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') {
      keepAwake();
      sync();
    }
  });
  setInterval(() => sync({ beat: true }), HEARTBEAT_MS);
  keepAwake();
  if (state.kept) {
    showStatus();
    sync({ beat: true });
  }
}

boot();
