// The staff app: today's questions as big faces, the outbox's honest status, own history.

import { NetworkError, getJSON, patchJSON } from './api.js';
import { faceLabel, faceSvg, position } from './faces.js';
import { formatDate, language, load, pickLanguage, plural, t } from './i18n.js';
import { Outbox } from './outbox.js';

const HISTORY_DAYS = 56;
const WEEKS = 8;
// After a contact is rated its faces rest this long, so a double tap stores one rating.
const CONTACT_REST_MS = 700;

const outbox = new Outbox();

function saved(key, fallback) {
  try {
    return JSON.parse(localStorage.getItem(`spiegel.${key}`)) ?? fallback;
  } catch {
    return fallback;
  }
}

function keep(key, value) {
  if (value === null || value === undefined) localStorage.removeItem(`spiegel.${key}`);
  else localStorage.setItem(`spiegel.${key}`, JSON.stringify(value));
}

const state = {
  me: saved('me', null),
  questions: saved('questions', []),
  known: saved('known', {}), // every question seen, by id: answers outlive their question
  history: saved('history', []),
  queued: [],
  rejected: [],
  signedOut: false,
  ref: (new URLSearchParams(location.search).get('ref') || '').trim().slice(0, 100),
  choice: {}, // question id -> {value, day}: set at the tap itself, before any await
  notice: {},
  comment: '',
  commentFor: null,
  contactResting: false,
  busy: false,
};

// --- small helpers --------------------------------------------------------------------

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'svg') el.innerHTML = value; // only ever our own drawing
    else if (key === 'value') el.value = value;
    else el.setAttribute(key, value === true ? '' : value);
  }
  el.append(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}

const pad = (n) => String(n).padStart(2, '0');
const dayOf = (date) => `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
const today = () => dayOf(new Date());
const questionText = (q) => (q.texts && q.texts[language()]) || (q.texts && q.texts.nl) || '';
const questionsOf = (kind) => state.questions.filter((q) => q.kind === kind);

function scaleOf(questionId) {
  const q = state.known[questionId];
  return q ? q.scale : null;
}

/** Own answers, newest first: the server's history plus what still waits in the outbox. */
function allAnswers() {
  const seen = new Set();
  const list = [];
  for (const entry of state.queued) {
    const known = state.known[entry.answer.question];
    list.push({ ...entry.answer, kind: known ? known.kind : '', waiting: true });
    seen.add(entry.id);
  }
  for (const answer of state.history) if (!seen.has(answer.id)) list.push(answer);
  return list.sort((a, b) => Date.parse(b.answered_at) - Date.parse(a.answered_at));
}

function latest(questionId, day = null) {
  return allAnswers().find(
    (a) => a.question === questionId && (!day || dayOf(new Date(a.answered_at)) === day),
  );
}

/** The face now shown as chosen: today's latest for the check-in, the latest for others. */
function chosen(q) {
  const day = q.kind === 'checkin' ? today() : null;
  const mine = state.choice[q.id];
  if (mine && (!day || mine.day === day)) return mine.value;
  const answer = latest(q.id, day);
  return answer ? answer.value : null;
}

function enpsDue() {
  if (!state.me || !state.me.enps_due) return false;
  const now = new Date();
  return !allAnswers().some((a) => {
    const at = new Date(a.answered_at);
    return a.kind === 'enps' && at.getFullYear() === now.getFullYear() && at.getMonth() === now.getMonth();
  });
}

function contactsToday() {
  const day = today();
  return allAnswers().filter((a) => a.kind === 'contact_self' && dayOf(new Date(a.answered_at)) === day).length;
}

// --- answering --------------------------------------------------------------------------

/**
 * When an answer to q is given now. The server keeps whole seconds, so a tap within a second
 * of the previous answer to the same question is stamped a second later: "the latest tap of
 * the day counts" must never be a tie.
 */
function answerTime(q) {
  let at = Date.now();
  for (const answer of allAnswers()) {
    if (answer.question !== q.id) continue;
    at = Math.max(at, Math.floor(Date.parse(answer.answered_at) / 1000) * 1000 + 1000);
  }
  return new Date(at).toISOString();
}

/** Keep one answer in the outbox (on disk) and start sending; resolves once it is kept. */
async function store(q, value, { contactRef = null, comment = null } = {}) {
  const answer = {
    id: crypto.randomUUID(),
    question: q.id,
    value,
    answered_at: answerTime(q),
    contact_ref: contactRef,
    comment,
  };
  await outbox.add(answer);
  await reloadOutbox();
  send();
  return answer;
}

function send() {
  outbox.flush().then((result) => {
    if (result.outcome === 'auth' && !state.signedOut) {
      state.signedOut = true;
      renderStatus();
    }
  }).catch((error) => console.error('outbox', error));
}

async function tapFace(q, value) {
  if (chosen(q) === value) return; // the face already chosen: a double tap, nothing new
  const before = state.choice[q.id];
  state.choice[q.id] = { value, day: today() };
  try {
    await store(q, value);
    state.notice[q.id] = q.kind === 'checkin' ? t('app.checkin.saved', { face: faceLabel(value, q.scale.min, q.scale.max) }) : '';
    if (q.kind === 'checkin') state.commentFor = q.id;
  } catch (error) {
    console.error(error);
    state.choice[q.id] = before;
    state.notice[q.id] = t('app.error.storage');
  }
  render();
}

async function tapContact(q, value) {
  if (state.contactResting) return;
  state.contactResting = true;
  for (const button of document.querySelectorAll('.contact .face')) button.setAttribute('aria-disabled', 'true');
  const ref = state.ref.trim() || null;
  const face = faceLabel(value, q.scale.min, q.scale.max);
  try {
    await store(q, value, { contactRef: ref });
    state.notice.contact = ref ? t('app.contact.saved_ref', { ref, face }) : t('app.contact.saved', { face });
    state.ref = '';
    if (new URLSearchParams(location.search).has('ref')) history.replaceState(null, '', `/app/${location.hash}`);
  } catch (error) {
    console.error(error);
    state.notice.contact = t('app.error.storage');
  }
  render();
  setTimeout(() => {
    state.contactResting = false;
    render();
  }, CONTACT_REST_MS);
}

async function tapEnps(q, value) {
  if (state.notice.enps) return;
  state.notice.enps = t('app.enps.thanks', { value });
  render();
  try {
    await store(q, value);
  } catch (error) {
    console.error(error);
    state.notice.enps = null;
    render();
  }
}

async function saveComment(q) {
  const text = state.comment.trim();
  const value = chosen(q);
  if (!text || value === null || state.busy) return;
  state.busy = true;
  try {
    // A comment is a new check-in with the same face: the latest of the day counts.
    await store(q, value, { comment: text.slice(0, 1000) });
    state.comment = '';
    state.commentFor = null;
    state.notice[q.id] = t('app.comment.saved');
  } catch (error) {
    console.error(error);
    state.notice[q.id] = t('app.error.storage');
  } finally {
    state.busy = false;
  }
  render();
}

// --- views ------------------------------------------------------------------------------

function faces(q, onTap, { rest = false, toggle = false, pressed = null } = {}) {
  const buttons = [];
  for (let v = q.scale.min; v <= q.scale.max; v += 1) {
    buttons.push(h('button', {
      type: 'button',
      class: 'face',
      id: `face-${q.id}-${v}`,
      'data-value': v,
      'aria-pressed': toggle ? String(pressed === v) : null,
      'aria-disabled': rest ? 'true' : null,
      onclick: () => onTap(q, v),
    }, h('span', { class: 'drawing', svg: faceSvg(v, q.scale.min, q.scale.max) }),
    h('span', { class: 'label' }, faceLabel(v, q.scale.min, q.scale.max))));
  }
  return h('div', { class: `faces n${buttons.length}`, role: 'group', 'aria-labelledby': `q-${q.id}` }, buttons);
}

function notice(text) {
  return h('p', { class: 'notice', role: 'status' }, text || '');
}

function checkinCard(q) {
  const value = chosen(q);
  const card = h('section', { class: 'card checkin', 'aria-labelledby': `q-${q.id}` },
    h('h2', { id: `q-${q.id}` }, questionText(q)),
    faces(q, tapFace, { toggle: true, pressed: value }),
    notice(value !== null ? state.notice[q.id] : ''));
  if (state.commentFor === q.id && value !== null) {
    card.append(h('form', {
      class: 'comment',
      onsubmit: (event) => {
        event.preventDefault();
        saveComment(q);
      },
    }, h('label', { for: 'comment' }, t('app.comment.label')),
    h('textarea', {
      id: 'comment', rows: 2, maxlength: 1000, value: state.comment,
      oninput: (event) => { state.comment = event.target.value; },
    }),
    h('button', { type: 'submit', id: 'comment-save' }, t('app.comment.save'))));
  }
  return card;
}

function contactCard(q) {
  const count = contactsToday();
  return h('section', { class: 'card contact', 'aria-labelledby': 'contact-title' },
    h('h2', { id: 'contact-title' }, t('app.contact.title')),
    h('p', { id: `q-${q.id}` }, questionText(q)),
    h('label', { for: 'contact-ref' }, t('app.contact.ref')),
    h('input', {
      id: 'contact-ref', type: 'text', maxlength: 100, autocomplete: 'off', value: state.ref,
      oninput: (event) => { state.ref = event.target.value; },
    }),
    faces(q, tapContact, { rest: state.contactResting }),
    notice(state.notice.contact),
    count ? h('p', { class: 'muted' }, plural('app.contact.today', count)) : null);
}

function enpsCard(q) {
  const body = state.notice.enps
    ? notice(state.notice.enps)
    : h('div', { class: 'scale', role: 'group', 'aria-labelledby': `q-${q.id}`, 'aria-describedby': 'enps-scale' },
      Array.from({ length: q.scale.max - q.scale.min + 1 }, (_, i) => q.scale.min + i).map((v) => h('button', {
        type: 'button', id: `face-${q.id}-${v}`, 'data-value': v, onclick: () => tapEnps(q, v),
      }, String(v))));
  return h('section', { class: 'card enps', 'aria-labelledby': 'enps-title' },
    h('h2', { id: 'enps-title' }, t('app.enps.title')),
    h('p', { id: `q-${q.id}` }, questionText(q)),
    state.notice.enps ? null : h('p', { id: 'enps-scale', class: 'muted' }, t('app.enps.scale')),
    body);
}

function mirrorCard(list) {
  return h('section', { class: 'card mirror', 'aria-labelledby': 'mirror-title' },
    h('h2', { id: 'mirror-title' }, t('app.mirror.title')),
    h('p', {}, t('app.mirror.intro')),
    list.map((q) => [h('h3', { id: `q-${q.id}` }, questionText(q)), faces(q, tapFace, { toggle: true, pressed: chosen(q) })]));
}

function todayView() {
  const parts = [h('h1', { id: 'title', tabindex: '-1' }, t('app.nav.today'))];
  if (state.me) {
    const who = state.me.team ? `${t('app.greeting', { name: state.me.name })} · ${t('app.team', { team: state.me.team.name })}` : t('app.greeting', { name: state.me.name });
    parts.push(h('p', { class: 'muted' }, who));
  }
  parts.push(rejectedList());
  if (!state.questions.length) {
    parts.push(h('p', {}, state.signedOut ? '' : t('app.no_questions')));
    return parts;
  }
  for (const q of questionsOf('checkin')) parts.push(checkinCard(q));
  const contact = questionsOf('contact_self')[0];
  if (contact) parts.push(contactCard(contact));
  const enps = questionsOf('enps')[0];
  if (enps && (enpsDue() || state.notice.enps)) parts.push(enpsCard(enps));
  const mirror = questionsOf('mirror_staff');
  if (mirror.length) parts.push(mirrorCard(mirror));
  return parts;
}

function weekStart(date) {
  const d = new Date(date.getFullYear(), date.getMonth(), date.getDate());
  d.setDate(d.getDate() - ((d.getDay() + 6) % 7));
  return d;
}

function score(answer) {
  const scale = scaleOf(answer.question);
  return scale ? position(answer.value, scale.min, scale.max) * 100 : null;
}

/** Per week: the mean check-in score (the latest of each day) and the mean contact score. */
function weeklyScores(answers) {
  const first = weekStart(new Date());
  first.setDate(first.getDate() - 7 * (WEEKS - 1));
  const weeks = Array.from({ length: WEEKS }, (_, i) => {
    const start = new Date(first);
    start.setDate(first.getDate() + 7 * i);
    return { start, days: new Map(), contacts: [] };
  });
  const find = (at) => weeks.find((w, i) => at >= w.start && (i === WEEKS - 1 || at < weeks[i + 1].start));
  for (const answer of [...answers].reverse()) { // oldest first, so a later tap overwrites
    const at = new Date(answer.answered_at);
    const week = at >= first ? find(at) : null;
    const value = score(answer);
    if (!week || value === null) continue;
    if (answer.kind === 'checkin') week.days.set(dayOf(at), value);
    if (answer.kind === 'contact_self') week.contacts.push(value);
  }
  const mean = (xs) => (xs.length ? Math.round(xs.reduce((s, x) => s + x, 0) / xs.length) : null);
  return weeks.map((w) => ({ start: w.start, mood: mean([...w.days.values()]), contacts: mean(w.contacts) }));
}

function chart(weeks) {
  const bars = weeks.map((w, i) => {
    const x = 30 + i * 36;
    const bar = (value, dx, cls) => (value === null ? ''
      : `<rect class="${cls}" x="${x + dx}" y="${130 - value * 1.2}" width="13" height="${Math.max(1, value * 1.2)}"/>`);
    return bar(w.mood, 4, 'mood') + bar(w.contacts, 18, 'contacts')
      + `<text x="${x + 17}" y="148" text-anchor="middle">${formatDate(w.start, { day: 'numeric', month: 'numeric' })}</text>`;
  }).join('');
  const grid = [0, 50, 100].map((v) => `<line x1="28" x2="320" y1="${130 - v * 1.2}" y2="${130 - v * 1.2}"/>`
    + `<text x="24" y="${134 - v * 1.2}" text-anchor="end">${v}</text>`).join('');
  return '<svg viewBox="0 0 320 156" aria-hidden="true" focusable="false"><defs>'
    + '<pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">'
    + '<rect width="6" height="6" fill="#fff"/><line x1="0" y1="0" x2="0" y2="6" stroke="#8a4600" stroke-width="3"/></pattern>'
    + `</defs><g class="grid">${grid}</g>${bars}</svg>`;
}

function describe(answer) {
  const kind = t(`app.kind.${answer.kind}`);
  const scale = scaleOf(answer.question);
  const value = answer.kind === 'enps' || !scale ? String(answer.value) : faceLabel(answer.value, scale.min, scale.max);
  return `${kind}: ${value}`;
}

function when(answer) {
  const options = { weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' };
  return h('span', { class: 'when' }, formatDate(new Date(answer.answered_at), options));
}

function answerItem(answer) {
  return h('li', {},
    when(answer),
    h('span', {}, describe(answer)),
    answer.contact_ref ? h('span', { class: 'muted' }, `#${answer.contact_ref}`) : null,
    answer.comment ? h('q', {}, answer.comment) : null,
    answer.waiting ? h('span', { class: 'badge' }, t('app.history.waiting')) : null);
}

function historyView() {
  const answers = allAnswers();
  const parts = [
    h('h1', { id: 'title', tabindex: '-1' }, t('app.nav.history')),
    h('p', { class: 'muted' }, t('app.history.intro')),
  ];
  if (!answers.length) return [...parts, h('p', {}, t('app.history.none'))];
  const weeks = weeklyScores(answers);
  const week = (w) => t('app.history.week', { date: formatDate(w.start, { day: 'numeric', month: 'long' }) });
  const cell = (v) => (v === null ? t('app.history.empty_cell') : String(v));
  parts.push(
    h('figure', { class: 'chart' },
      h('figcaption', { id: 'chart-title' }, t('app.history.chart')),
      h('div', { svg: chart(weeks) }),
      h('ul', { class: 'legend' },
        h('li', {}, h('span', { class: 'key mood' }), t('app.kind.checkin')),
        h('li', {}, h('span', { class: 'key contacts' }), t('app.kind.contact_self')))),
    h('details', {},
      h('summary', {}, t('app.history.table')),
      h('table', {},
        h('caption', {}, t('app.history.chart')),
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, t('app.history.week', { date: '' }).trim()),
          h('th', { scope: 'col' }, t('app.kind.checkin')), h('th', { scope: 'col' }, t('app.kind.contact_self')))),
        h('tbody', {}, weeks.map((w) => h('tr', {}, h('th', { scope: 'row' }, week(w)), h('td', {}, cell(w.mood)), h('td', {}, cell(w.contacts))))))),
    h('h2', {}, t('app.history.recent')),
    h('ul', { class: 'answers' }, answers.slice(0, 30).map(answerItem)),
  );
  return parts;
}

function rejectedList() {
  if (!state.rejected.length) return null;
  return h('section', { class: 'card rejected', 'aria-labelledby': 'rejected-title' },
    h('h2', { id: 'rejected-title' }, t('app.outbox.rejected.title')),
    h('p', {}, t('app.outbox.rejected.intro')),
    h('ul', {}, state.rejected.map((entry) => {
      const known = state.known[entry.answer.question];
      const answer = { ...entry.answer, kind: known ? known.kind : '' };
      return h('li', { 'data-id': entry.id }, when(answer), ' ', h('span', {}, describe(answer)), h('span', { class: 'reason' }, entry.reason || ''),
        h('span', { class: 'actions' },
          h('button', { type: 'button', id: `retry-${entry.id}`, onclick: () => outbox.retry(entry.id).catch(console.error) }, t('app.outbox.retry')),
          h('button', { type: 'button', class: 'secondary', id: `discard-${entry.id}`, onclick: () => outbox.discard(entry.id).catch(console.error) }, t('app.outbox.discard'))));
    })));
}

const present = (...nodes) => nodes.filter((node) => node !== null && node !== undefined);

function renderStatus() {
  const n = state.queued.length;
  const box = document.getElementById('status-box');
  box.replaceChildren(...present(
    h('p', { id: 'outbox-status', class: `status ${n ? 'waiting' : 'clear'}`, role: 'status' },
      h('span', { class: 'icon', 'aria-hidden': 'true' }, n ? '…' : '✓'),
      n ? plural('app.outbox.waiting', n) : t('app.outbox.empty')),
    state.signedOut ? h('p', { id: 'signed-out', class: 'alert', role: 'alert' }, t('app.signedout')) : null,
  ));
}

function renderChrome() {
  const view = location.hash === '#history' ? 'history' : 'today';
  const link = (name, hash) => h('a', { href: hash, 'aria-current': view === name ? 'page' : null }, t(`app.nav.${name}`));
  document.getElementById('nav').replaceChildren(link('today', '#today'), link('history', '#history'));
  document.getElementById('nav').setAttribute('aria-label', t('app.nav.label'));
  const choose = (code) => h('button', {
    type: 'button', lang: code, id: `lang-${code}`, 'aria-pressed': String(language() === code),
    onclick: () => switchLanguage(code),
  }, t(`app.language.${code}`));
  const ios = /iPhone|iPad|iPod/.test(navigator.userAgent) && !matchMedia('(display-mode: standalone)').matches;
  document.getElementById('footer').replaceChildren(...present(
    h('div', { class: 'languages', role: 'group', 'aria-labelledby': 'lang-label' },
      h('span', { id: 'lang-label' }, t('app.language')), choose('nl'), choose('en')),
    ios ? h('p', { class: 'muted' }, t('app.install_ios')) : null,
  ));
}

function render() {
  const focused = document.activeElement && document.activeElement.id;
  const view = location.hash === '#history' ? historyView() : todayView();
  document.getElementById('view').replaceChildren(...present(...view));
  renderChrome();
  renderStatus();
  if (focused && document.getElementById(focused)) document.getElementById(focused).focus();
}

// --- data -------------------------------------------------------------------------------

async function reloadOutbox() {
  const entries = await outbox.all();
  state.queued = entries.filter((e) => e.state === 'queued').sort((a, b) => a.queuedAt - b.queuedAt);
  state.rejected = entries.filter((e) => e.state === 'rejected');
}

function remember(questions) {
  for (const q of questions) state.known[q.id] = q;
  keep('known', state.known);
}

function mergeDelivered(answers) {
  const ids = new Set(state.history.map((a) => a.id));
  for (const answer of answers) {
    if (ids.has(answer.id)) continue;
    const known = state.known[answer.question];
    state.history.push({ ...answer, kind: known ? known.kind : '' });
  }
  state.history.sort((a, b) => Date.parse(b.answered_at) - Date.parse(a.answered_at));
  keep('history', state.history);
}

async function pushLanguage() {
  const wanted = saved('languagePending', null);
  if (!wanted) return;
  const response = await patchJSON('/api/v1/me', { language: wanted });
  if (response.ok || response.status === 400) keep('languagePending', null);
}

/** Fetch the person, questions and history; offline, the kept copies serve. */
async function refresh() {
  try {
    await pushLanguage();
    const me = await getJSON('/api/v1/me');
    if (me.status === 401) {
      state.signedOut = true;
      render();
      return;
    }
    if (!me.ok) return;
    state.signedOut = false;
    state.me = me.data;
    keep('me', state.me);
    const [questions, history] = await Promise.all([
      getJSON('/api/v1/questions'),
      getJSON(`/api/v1/me/answers?days=${HISTORY_DAYS}`),
    ]);
    if (questions.ok) {
      state.questions = questions.data.questions;
      keep('questions', state.questions);
      remember(state.questions);
    }
    if (history.ok) {
      state.history = history.data.answers;
      keep('history', state.history);
    }
    const wanted = pickLanguage(state.me.language ?? saved('language', null));
    if (wanted !== language()) await load(wanted);
  } catch (error) {
    if (!(error instanceof NetworkError)) throw error;
  }
  render();
}

async function switchLanguage(code) {
  keep('language', code);
  keep('languagePending', code);
  if (state.me) {
    state.me = { ...state.me, language: code };
    keep('me', state.me);
  }
  await load(code);
  render();
  pushLanguage().catch(() => {});
}

function wake() {
  send();
  refresh().catch((error) => console.error(error));
}

async function start() {
  await load(pickLanguage(state.me ? state.me.language : saved('language', null)));
  await reloadOutbox();
  render();
  outbox.addEventListener('change', async (event) => {
    if (event.detail && event.detail.delivered) mergeDelivered(event.detail.delivered);
    const refused = state.rejected.length;
    await reloadOutbox();
    if (location.hash === '#history' || refused !== state.rejected.length) render();
    else renderStatus();
  });
  window.addEventListener('online', wake);
  document.addEventListener('visibilitychange', () => (document.visibilityState === 'visible' ? wake() : send()));
  window.addEventListener('hashchange', () => {
    render();
    document.getElementById('title').focus();
  });
  if ('serviceWorker' in navigator) {
    navigator.serviceWorker.register('/app/sw.js', { type: 'module', scope: '/app/' })
      .catch((error) => console.error('service worker', error));
  }
  if (navigator.storage && navigator.storage.persist) navigator.storage.persist().catch(() => {});
  wake();
}

start();
