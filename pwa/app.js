// The staff app: today's questions as big faces, the outbox's honest status, own history.

import { NetworkError, getJSON, patchJSON, postJSON } from './api.js';
import { h, present, replace } from './dom.js';
import { faceLabel, faceSvg } from './faces.js';
import { dayOf, describe, historyView, when } from './history.js';
import { LANGUAGES, formatDate, language, load, pickLanguage, plural, t } from './i18n.js';
import { Outbox } from './outbox.js';
import { remindersCard } from './reminders.js';

const HISTORY_DAYS = 56;
// After a contact is rated its faces rest this long, so a double tap stores one rating.
const CONTACT_REST_MS = 700;

const outbox = new Outbox({ name: 'staff' });
// What this device keeps of the signed-in person; all of it goes at sign-out.
const PERSONAL = ['me', 'questions', 'history', 'languagePending'];

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
  others: 0, // answers of someone else who used this device, waiting for them: only counted
  signedOut: false,
  loaded: false, // the first refresh has answered (or found no network)
  // Signed out here, and the server not yet told (offline): the person is not shown again.
  leaving: saved('signoutPending', null) !== null,
  sent: false, // answers were delivered while this page was open: worth a quiet "all sent"
  // The answers delivered while this page was open: a history fetched while one was on its
  // way may not hold it yet, and must not make it vanish from the screen.
  delivered: [],
  ref: clip((new URLSearchParams(location.search).get('ref') || '').trim(), 100),
  choice: {}, // question id -> {value, day}: set at the tap itself, before any await
  // What a card confirms, kept as catalogue keys so that a language switch re-words it.
  notice: {}, // card -> {key, values, face: [question id, value], problem}
  fresh: null, // the card whose confirmation is new: it fades in once
  tapped: null, // the id of the button just tapped: it answers with a small pop once
  enpsOpen: false, // the eNPS card stays while this page is open, so a slip can be mended
  comment: '',
  commentFor: null,
  contactResting: false,
  busy: false,
};

// --- small helpers --------------------------------------------------------------------

/**
 * The first `most` characters of a text, counted as the server counts them: by code point.
 * String.slice counts UTF-16 units and can cut an emoji in half, leaving a lone surrogate
 * that is not text (the server refuses it). A function declaration: `state` uses it above.
 */
function clip(text, most) {
  return Array.from(text).slice(0, most).join('');
}

const today = () => dayOf(new Date());
const questionText = (q) => (q.texts && q.texts[language()]) || (q.texts && q.texts.nl) || '';
const questionsOf = (kind) => state.questions.filter((q) => q.kind === kind);

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

const sameMonth = (a, b) => a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth();

/** The latest answer to a question within its period: the day for most, the month for eNPS. */
function latest(q) {
  const now = new Date();
  const within = q.kind === 'enps' ? (at) => sameMonth(at, now)
    : q.kind === 'checkin' ? (at) => dayOf(at) === dayOf(now) : () => true;
  return allAnswers().find((a) => a.question === q.id && within(new Date(a.answered_at)));
}

/** The choice now shown as pressed: this page's last tap, else the latest stored one. */
function chosen(q) {
  const mine = state.choice[q.id];
  if (mine && (q.kind !== 'checkin' || mine.day === today())) return mine.value;
  const answer = latest(q);
  return answer ? answer.value : null;
}

function enpsDue() {
  return Boolean(state.me && state.me.enps_due) && !allAnswers().some((a) => a.kind === 'enps' && sameMonth(new Date(a.answered_at), new Date()));
}

function contactsToday() {
  const day = today();
  return allAnswers().filter((a) => a.kind === 'contact_self' && dayOf(new Date(a.answered_at)) === day).length;
}

function confirm(card, key, values = {}, face = null) {
  state.notice[card] = { key, values, face };
  state.fresh = card;
}

function problem(card) {
  state.notice[card] = { key: 'app.error.storage', values: {}, problem: true };
  state.fresh = card;
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

/** A face (or a number) chosen for a question whose latest answer of the period counts. */
async function choose(q, value) {
  if (chosen(q) === value) return; // the choice already made: a double tap, nothing new
  const before = state.choice[q.id];
  state.choice[q.id] = { value, day: today() };
  state.tapped = `face-${q.id}-${value}`;
  try {
    await store(q, value);
    if (q.kind === 'enps') {
      state.enpsOpen = true;
      confirm(q.id, 'app.enps.thanks', { value });
    } else {
      confirm(q.id, 'app.checkin.saved', {}, [q.id, value]);
    }
    if (q.kind === 'checkin') state.commentFor = q.id;
  } catch (error) {
    console.error(error);
    state.choice[q.id] = before;
    problem(q.id);
  }
  render();
}

async function tapContact(q, value) {
  if (state.contactResting) return;
  state.contactResting = true;
  state.tapped = `face-${q.id}-${value}`;
  for (const button of document.querySelectorAll('.contact .face')) button.setAttribute('aria-disabled', 'true');
  const ref = state.ref.trim() || null;
  try {
    await store(q, value, { contactRef: ref });
    if (ref) confirm('contact', 'app.contact.saved_ref', { ref }, [q.id, value]);
    else confirm('contact', 'app.contact.saved', {}, [q.id, value]);
    state.ref = '';
    if (new URLSearchParams(location.search).has('ref')) history.replaceState(null, '', `/app/${location.hash}`);
  } catch (error) {
    console.error(error);
    problem('contact');
  }
  render();
  setTimeout(() => {
    state.contactResting = false;
    render();
  }, CONTACT_REST_MS);
}

async function saveComment(q) {
  const text = state.comment.trim();
  const value = chosen(q);
  if (!text || value === null || state.busy) return;
  state.busy = true;
  try {
    // A comment is a new check-in with the same face: the latest of the day counts.
    await store(q, value, { comment: clip(text, 1000) });
    state.comment = '';
    state.commentFor = null;
    confirm(q.id, 'app.comment.saved');
  } catch (error) {
    console.error(error);
    problem(q.id);
  } finally {
    state.busy = false;
  }
  render();
}

// --- views ------------------------------------------------------------------------------

function faces(q, onTap, { rest = false, toggle = false, pressed = null } = {}) {
  const buttons = [];
  for (let v = q.scale.min; v <= q.scale.max; v += 1) {
    const id = `face-${q.id}-${v}`;
    buttons.push(h('button', {
      type: 'button',
      class: id === state.tapped ? 'face tapped' : 'face',
      id,
      'data-value': v,
      'aria-pressed': toggle ? String(pressed === v) : null,
      'aria-disabled': rest ? 'true' : null,
      onclick: () => onTap(q, v),
    }, h('span', { class: 'drawing', svg: faceSvg(v, q.scale.min, q.scale.max) }),
    h('span', { class: 'label' }, faceLabel(v, q.scale.min, q.scale.max))));
  }
  return h('div', { class: `faces n${buttons.length}`, role: 'group', 'aria-labelledby': `q-${q.id}` }, buttons);
}

/** A card's confirmation, worded now in the current language. */
function notice(card) {
  const shown = state.notice[card];
  let text = '';
  if (shown) {
    const values = { ...shown.values };
    if (shown.face) {
      const q = state.known[shown.face[0]];
      values.face = q ? faceLabel(shown.face[1], q.scale.min, q.scale.max) : String(shown.face[1]);
    }
    text = t(shown.key, values);
  }
  const classes = ['notice', 'confirm', shown && shown.problem ? 'problem' : '', state.fresh === card ? 'fresh' : ''];
  return h('p', { class: classes.filter(Boolean).join(' '), role: 'status' }, text);
}

function checkinCard(q) {
  const value = chosen(q);
  const card = h('section', { class: 'card checkin', 'aria-labelledby': `q-${q.id}` },
    h('h2', { id: `q-${q.id}` }, questionText(q)),
    faces(q, choose, { toggle: true, pressed: value }),
    value !== null ? notice(q.id) : null);
  if (state.commentFor === q.id && value !== null) {
    card.append(h('form', {
      class: 'comment stack',
      onsubmit: (event) => {
        event.preventDefault();
        saveComment(q);
      },
    }, h('label', { for: 'comment' }, t('app.comment.label')),
    h('textarea', {
      id: 'comment', rows: 2, maxlength: 1000, value: state.comment,
      oninput: (event) => { state.comment = event.target.value; },
    }),
    h('button', { type: 'submit', class: 'secondary', id: 'comment-save' }, t('app.comment.save'))));
  }
  return card;
}

function contactCard(q) {
  const count = contactsToday();
  return h('section', { class: 'card contact', 'aria-labelledby': 'contact-title' },
    h('h2', { id: 'contact-title' }, t('app.contact.title')),
    h('p', { id: `q-${q.id}` }, questionText(q)),
    h('div', {},
      h('label', { for: 'contact-ref' }, t('app.contact.ref')),
      h('input', {
        id: 'contact-ref', type: 'text', maxlength: 100, autocomplete: 'off', value: state.ref,
        oninput: (event) => { state.ref = event.target.value; },
      })),
    faces(q, tapContact, { rest: state.contactResting }),
    notice('contact'),
    count ? h('p', { class: 'muted small' }, plural('app.contact.today', count)) : null);
}

function enpsCard(q) {
  const pressed = chosen(q);
  const values = Array.from({ length: q.scale.max - q.scale.min + 1 }, (_, i) => q.scale.min + i);
  return h('section', { class: 'card enps', 'aria-labelledby': 'enps-title' },
    h('h2', { id: 'enps-title' }, t('app.enps.title')),
    h('p', { id: `q-${q.id}` }, questionText(q)),
    h('p', { id: 'enps-scale', class: 'muted small' }, t('app.enps.scale')),
    h('div', { class: 'scale', role: 'group', 'aria-labelledby': `q-${q.id}`, 'aria-describedby': 'enps-scale' },
      values.map((v) => {
        const id = `face-${q.id}-${v}`;
        return h('button', {
          type: 'button', id, class: id === state.tapped ? 'tapped' : null, 'data-value': v,
          'aria-pressed': String(pressed === v), onclick: () => choose(q, v),
        }, String(v));
      })),
    pressed !== null ? notice(q.id) : null);
}

function mirrorCard(list) {
  return h('section', { class: 'card mirror', 'aria-labelledby': 'mirror-title' },
    h('h2', { id: 'mirror-title' }, t('app.mirror.title')),
    h('p', {}, t('app.mirror.intro')),
    list.map((q) => [h('h3', { id: `q-${q.id}` }, questionText(q)), faces(q, choose, { toggle: true, pressed: chosen(q) }), notice(q.id)]));
}

function greeting() {
  const date = formatDate(new Date(), { weekday: 'long', day: 'numeric', month: 'long' });
  const team = state.me && state.me.team ? t('app.team', { team: state.me.team.name }) : null;
  return h('div', { class: 'intro' },
    h('h1', { id: 'title', tabindex: '-1' }, state.me ? t('app.greeting', { name: state.me.name }) : t('app.nav.today')),
    h('p', { class: 'muted' }, present(date, team).join(' · ')));
}

function todayView() {
  if (state.me && !state.me.team) return [greeting(), noTeamCard()];
  const parts = [greeting(), rejectedList()];
  if (!state.questions.length) {
    if (!state.loaded) parts.push(h('p', { class: 'muted' }, t('app.loading')));
    else if (!state.signedOut) parts.push(h('p', {}, t('app.no_questions')));
    return parts;
  }
  for (const q of questionsOf('checkin')) parts.push(checkinCard(q));
  const contact = questionsOf('contact_self')[0];
  if (contact) parts.push(contactCard(contact));
  const enps = questionsOf('enps')[0];
  if (enps && (enpsDue() || state.enpsOpen)) parts.push(enpsCard(enps));
  const mirror = questionsOf('mirror_staff');
  if (mirror.length) parts.push(mirrorCard(mirror));
  parts.push(remindersCard());
  return parts;
}

/** After a sign-out: nobody's name, choices or history; a way back in. */
function signedOutView() {
  return [h('div', { class: 'intro' },
    h('h1', { id: 'title', tabindex: '-1' }, t('app.signout.done.title')),
    h('p', {}, t('app.signout.done')))];
}

/** A manager or admin in no team has nothing to answer here: the manager view is theirs. */
function noTeamCard() {
  const lead = state.me.role === 'manager' || state.me.role === 'admin';
  return h('section', { id: 'no-team', class: 'card', 'aria-labelledby': 'no-team-title' },
    h('h2', { id: 'no-team-title' }, t('app.noteam.title')),
    h('p', {}, t('app.noteam.text')),
    lead ? h('p', {}, h('a', { href: '/manager', class: 'button' }, t('app.noteam.manager'))) : null);
}

function rejectedList() {
  if (!state.rejected.length) return null;
  return h('section', { class: 'card rejected', 'aria-labelledby': 'rejected-title' },
    h('h2', { id: 'rejected-title' }, t('app.outbox.rejected.title')),
    h('p', {}, t('app.outbox.rejected.intro')),
    h('ul', { class: 'answers' }, state.rejected.map((entry) => {
      const known = state.known[entry.answer.question];
      const answer = { ...entry.answer, kind: known ? known.kind : '' };
      return h('li', { 'data-id': entry.id }, when(answer), h('span', {}, describe(answer, state.known)),
        h('span', { class: 'reason alert bad' }, entry.reason || ''),
        h('span', { class: 'actions' },
          h('button', { type: 'button', id: `retry-${entry.id}`, onclick: () => outbox.retry(entry.id).catch(console.error) }, t('app.outbox.retry')),
          h('button', { type: 'button', class: 'secondary', id: `discard-${entry.id}`, onclick: () => outbox.discard(entry.id).catch(console.error) }, t('app.outbox.discard'))));
    })));
}

/**
 * The outbox's state where it helps: answers still waiting are said at the top; "all sent" is
 * said quietly below the questions, and only once something was sent while the app was open.
 */
function renderStatus() {
  const n = state.queued.length;
  const status = (cls, icon, text) => h('p', { id: 'outbox-status', class: `status ${cls}`, role: 'status' },
    h('span', { class: 'icon', 'aria-hidden': 'true' }, icon), text);
  const signedOut = state.signedOut && state.me && !state.leaving
    ? h('p', { id: 'signed-out', class: 'alert warn', role: 'alert' }, t('app.signedout')) : null;
  // Someone else's answers: how many, never what.
  const others = state.others
    ? h('p', { id: 'others-waiting', class: 'alert info' }, plural('app.outbox.others', state.others)) : null;
  replace(document.getElementById('status-box'), [signedOut, n ? status('waiting', '…', plural('app.outbox.waiting', n)) : null, others]);
  const allSent = !n && state.sent && !state.signedOut && location.hash !== '#history';
  replace(document.getElementById('sent-box'), [allSent ? status('clear', '✓', t('app.outbox.empty')) : null]);
}

function renderChrome() {
  const view = location.hash === '#history' ? 'history' : 'today';
  const link = (name, hash) => h('a', { href: hash, 'aria-current': view === name ? 'page' : null }, t(`app.nav.${name}`));
  const nav = document.getElementById('nav');
  nav.replaceChildren(link('today', '#today'), link('history', '#history'));
  nav.setAttribute('aria-label', t('app.nav.label'));
  const pick = (code) => h('button', {
    type: 'button', lang: code, id: `lang-${code}`, 'aria-pressed': String(language() === code),
    onclick: () => switchLanguage(code),
  }, t(`app.language.${code}`));
  const ios = /iPhone|iPad|iPod/.test(navigator.userAgent) && !matchMedia('(display-mode: standalone)').matches;
  const [offered] = offer();
  replace(document.getElementById('footer'), [
    offered.length > 1 ? h('div', { class: 'languages', role: 'group', 'aria-labelledby': 'lang-label' },
      h('span', { id: 'lang-label' }, t('app.language')), ...offered.map(pick)) : null,
    state.me && !state.leaving
      ? h('button', { type: 'button', class: 'quiet', id: 'signout', onclick: signOut }, t('app.signout')) : null,
    ios ? h('p', { class: 'muted small' }, t('app.install_ios')) : null,
  ]);
}

/** [the languages the organisation offers, its default]: known from the person
 * (/api/v1/me); every language before that. */
function offer() {
  const me = state.me || {};
  return [me.languages || LANGUAGES, me.default_language || LANGUAGES[0]];
}

/** Nobody to show: signed out here, or a device that never knew its person. */
const nobody = () => state.leaving || (state.signedOut && !state.me);

function render() {
  const view = nobody() ? signedOutView()
    : location.hash === '#history' ? historyView(allAnswers(), state.known) : todayView();
  replace(document.getElementById('view'), view);
  renderChrome();
  renderStatus();
  // A pop and a fade answer one tap, not every later redraw.
  state.tapped = null;
  state.fresh = null;
}

// --- data -------------------------------------------------------------------------------

/** The signed-in person's entries; of anyone else's only the count. */
async function reloadOutbox() {
  const { mine, others } = await outbox.entries();
  state.queued = mine.filter((e) => e.state === 'queued').sort((a, b) => a.queuedAt - b.queuedAt);
  state.rejected = mine.filter((e) => e.state === 'rejected');
  state.others = others;
}

/** From now on this device answers as `person`: their entries are sent, others' wait. */
async function answerAs(person) {
  const { owner } = await outbox.holder();
  if (owner === person.id) return;
  await outbox.adopt(person.id);
  await outbox.setHolder(person.id);
  await reloadOutbox();
  send();
}

// --- signing out ------------------------------------------------------------------------

/**
 * Sign out: first the outbox stops sending this person's answers (after a send under way),
 * then everything of theirs leaves the page and storage, then the server is told. Offline,
 * the server is told later (finishSignOut); until then the person is not shown again.
 */
async function signOut() {
  const person = state.me;
  if (!person) return;
  state.me = null; // before the outbox says "nobody": this page is not someone left behind
  state.leaving = true;
  render();
  await outbox.exclusive(() => outbox.clearHolder());
  keep('signoutPending', person.id);
  for (const key of PERSONAL) keep(key, null);
  await forgetPush();
  try {
    await finishSignOut();
  } catch (error) {
    if (!(error instanceof NetworkError)) console.error(error);
  }
  // A fresh start leaves nothing of the person in this page's memory either.
  location.replace('/app/');
}

/** Tell the server, if the person who signed out is still the one signed in here. */
async function finishSignOut() {
  const pending = saved('signoutPending', null);
  if (pending === null) return;
  const me = await getJSON('/api/v1/me');
  if (me.ok && me.data.id === pending) {
    const ended = await postJSON('/api/v1/session/signout', {});
    if (!ended.ok) return;
  } else if (!me.ok && me.status !== 401) {
    return;
  }
  keep('signoutPending', null);
  state.leaving = false;
}

/** This browser's push subscription was the person's: reminders must not reach the next. */
async function forgetPush() {
  try {
    const registration = 'serviceWorker' in navigator && await navigator.serviceWorker.getRegistration('/app/');
    const subscription = registration && registration.pushManager && await registration.pushManager.getSubscription();
    if (subscription) await subscription.unsubscribe();
  } catch (error) {
    console.error('push', error);
  }
}

function remember(questions) {
  for (const q of questions) state.known[q.id] = q;
  keep('known', state.known);
}

function mergeDelivered(answers) {
  const ids = new Set(state.history.map((a) => a.id));
  for (const answer of answers) {
    if (ids.has(answer.id)) continue;
    ids.add(answer.id);
    const known = state.known[answer.question];
    state.history.push({ ...answer, kind: known ? known.kind : '' });
  }
  state.history.sort((a, b) => Date.parse(b.answered_at) - Date.parse(a.answered_at));
  keep('history', state.history);
}

/** Send a language chosen offline; resolves to the person as the server now has them. */
async function pushLanguage() {
  const wanted = saved('languagePending', null);
  if (!wanted) return null;
  const response = await patchJSON('/api/v1/me', { language: wanted });
  if (response.ok || response.status === 400) keep('languagePending', null);
  return response.ok ? response.data : null;
}

/** Fetch the person, questions and history; offline, the kept copies serve. */
async function refresh() {
  try {
    if (state.leaving) {
      await finishSignOut();
      if (state.leaving) {
        render();
        return;
      }
    }
    // All three at once (index.html preloads them): on a slow phone each round trip costs
    // more than the work. A language sent now wins over the person the preload fetched.
    const [patched, me, questions, history] = await Promise.all([
      pushLanguage(),
      getJSON('/api/v1/me'),
      getJSON('/api/v1/questions'),
      getJSON(`/api/v1/me/answers?days=${HISTORY_DAYS}`),
    ]);
    state.loaded = true;
    if (me.status === 401) {
      state.signedOut = true;
      render();
      return;
    }
    if (!me.ok) return;
    state.signedOut = false;
    if (state.me && state.me.id !== me.data.id) {
      // Someone else signed in on this device: nothing of the one before stays in view.
      state.history = [];
      state.delivered = [];
      state.choice = {};
      state.notice = {};
    }
    state.me = patched || me.data;
    keep('me', state.me);
    await answerAs(state.me);
    if (questions.ok) {
      state.questions = questions.data.questions;
      keep('questions', state.questions);
      remember(state.questions);
    }
    if (history.ok) {
      state.history = history.data.answers;
      mergeDelivered(state.delivered);
    }
    const wanted = pickLanguage(state.me.language ?? saved('language', null), ...offer());
    if (wanted !== language()) await load(wanted);
  } catch (error) {
    if (!(error instanceof NetworkError)) throw error;
  }
  state.loaded = true;
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

/** Entries kept before they had owners, and a device that knows its person from before. */
async function upgrade() {
  if (!state.me || state.leaving) return;
  await outbox.adopt(state.me.id);
  if ((await outbox.holder()).owner === null) await outbox.setHolder(state.me.id);
}

async function start() {
  // Texts and the outbox are read side by side; the first screen needs both.
  await Promise.all([
    load(pickLanguage(state.me ? state.me.language : saved('language', null), ...offer())),
    upgrade().then(reloadOutbox),
  ]);
  render();
  outbox.addEventListener('change', async (event) => {
    const holder = event.detail && 'holder' in event.detail ? event.detail.holder : undefined;
    if (holder !== undefined && holder !== (state.me ? state.me.id : null)) {
      // Signed out, or someone else signed in, in another tab: show nothing of this person.
      location.replace('/app/');
      return;
    }
    const delivered = event.detail && event.detail.delivered;
    if (delivered && delivered.length) {
      state.delivered.push(...delivered);
      mergeDelivered(delivered);
      state.sent = true;
    }
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
  // The worker's precache competes with the first screen's data on a slow line: it starts
  // once that screen is drawn (a worker that is already installed is not fetched again).
  const first = refresh().catch((error) => console.error(error));
  send();
  first.finally(() => {
    if ('serviceWorker' in navigator) {
      navigator.serviceWorker.register('/app/sw.js', { type: 'module', scope: '/app/' })
        .catch((error) => console.error('service worker', error));
    }
    if (navigator.storage && navigator.storage.persist) navigator.storage.persist().catch(() => {});
  });
}

start();
