// "Herinner mij": the staff app's reminder card. Permission is asked only after the tap
// (iOS allows nothing else). Time and days are kept on the server (/api/v1/me/reminders),
// this device's subscription per session (/api/v1/push/subscriptions). See docs/push.md.

import { getJSON, patchJSON, postJSON, request } from './api.js';
import { h } from './dom.js';
import { formatDate, t } from './i18n.js';

const state = { settings: null, loading: false, busy: false, notice: null, time: null, days: null };
let card = null;

const supported = () => 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;
const iphoneBrowser = () => /iPhone|iPad|iPod/.test(navigator.userAgent)
  && !matchMedia('(display-mode: standalone)').matches && !navigator.standalone;
// ISO weekdays (1 is Monday) by name; 1 January 2024 was a Monday.
const dayName = (day) => formatDate(new Date(2024, 0, day), { weekday: 'short' });
const daysText = (days) => days.map(dayName).join(', ');
const subscription = async () => (await navigator.serviceWorker.ready).pushManager.getSubscription();

function keyBytes(base64url) {
  const text = atob(base64url.replace(/-/g, '+').replace(/_/g, '/'));
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

function ok(response) {
  if (!response.ok) throw new Error(`reminders: ${response.status}`);
  return response.data;
}

/** Run one step of the card; a failure is said in the card, never thrown. */
async function act(step) {
  state.busy = true;
  state.notice = null;
  draw();
  try {
    await step();
  } catch (error) {
    console.error('reminders', error);
    state.notice = { key: 'app.reminders.failed', problem: true };
  } finally {
    state.busy = false;
    draw();
  }
}

async function load() {
  if (state.loading || state.settings) return;
  state.loading = true;
  try {
    state.settings = ok(await getJSON('/api/v1/me/reminders'));
    // The browser kept its subscription but the server let it go with an ended session.
    const kept = !state.settings.this_device && supported() && Notification.permission === 'granted'
      && await subscription();
    if (kept && (await postJSON('/api/v1/push/subscriptions', kept.toJSON())).ok) state.settings.this_device = true;
  } catch (error) {
    console.error('reminders', error);
  } finally {
    state.loading = false;
  }
  draw();
}

const turnOn = () => act(async () => {
  if (await Notification.requestPermission() !== 'granted') {
    state.notice = { key: 'app.reminders.denied', problem: true };
    return;
  }
  const key = ok(await getJSON('/api/v1/push/key')).public_key;
  const registration = await navigator.serviceWorker.ready;
  const sub = await registration.pushManager.getSubscription()
    || await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(key) });
  ok(await postJSON('/api/v1/push/subscriptions', sub.toJSON()));
  state.settings = { ...state.settings, this_device: true };
  state.time = state.days = null;
});

const turnOff = () => act(async () => {
  const sub = await subscription();
  ok(await request('DELETE', '/api/v1/push/subscriptions', { body: { endpoint: sub ? sub.endpoint : null } }));
  if (sub) await sub.unsubscribe();
  state.settings = { ...state.settings, this_device: false };
  state.notice = { key: 'app.reminders.off' };
});

function save(event) {
  event.preventDefault();
  if (!state.days.length) {
    state.notice = { key: 'app.reminders.no_days', problem: true };
    draw();
    return;
  }
  act(async () => {
    const days = [...state.days].sort();
    state.settings = ok(await patchJSON('/api/v1/me/reminders', { time: state.time, days }));
    state.time = state.days = null;
    state.notice = { key: 'app.reminders.saved' };
  });
}

function form(settings) {
  state.time ??= settings.time;
  state.days ??= [...settings.days];
  const day = (d) => h('label', { class: 'choice' }, h('input', {
    type: 'checkbox', name: 'day', value: d, checked: state.days.includes(d),
    onchange: (event) => { state.days = event.target.checked ? [...state.days, d] : state.days.filter((x) => x !== d); },
  }), dayName(d));
  return h('form', { class: 'stack', onsubmit: save },
    h('div', {}, h('label', { for: 'reminder-time' }, t('app.reminders.time')),
      h('input', { id: 'reminder-time', type: 'time', value: state.time, required: true, oninput: (event) => { state.time = event.target.value; } })),
    h('fieldset', { class: 'choices' }, h('legend', {}, t('app.reminders.days')), [1, 2, 3, 4, 5, 6, 7].map(day)),
    h('div', { class: 'actions' },
      h('button', { type: 'submit', class: 'secondary', disabled: state.busy }, t('app.reminders.save')),
      h('button', { type: 'button', class: 'quiet', disabled: state.busy, onclick: turnOff }, t('app.reminders.stop'))));
}

function body() {
  const settings = state.settings;
  const say = (key, values) => h('p', {}, t(key, values));
  let main;
  if (iphoneBrowser()) main = h('p', { class: 'alert info' }, t('app.reminders.ios'));
  else if (!supported()) main = h('p', { class: 'muted' }, t('app.reminders.unsupported'));
  else if (!settings) main = say('app.reminders.intro');
  else if (settings.this_device) main = [say('app.reminders.on', { time: settings.time, days: daysText(settings.days) }), form(settings)];
  else main = [say('app.reminders.intro'), h('button', { type: 'button', disabled: state.busy, onclick: turnOn }, t('app.reminders.button'))];
  const notice = state.notice;
  return [h('h2', { id: 'reminders-title' }, t('app.reminders.title')), main,
    notice && h('p', notice.problem ? { class: 'alert bad', role: 'alert' } : { class: 'confirm', role: 'status' }, t(notice.key))];
}

function draw() {
  if (card) card.replaceChildren(...body().flat().filter(Boolean));
}

/** The reminder card; call it on every render: its state outlives the element. */
export function remindersCard() {
  card = h('section', { class: 'card reminders', id: 'reminders', 'aria-labelledby': 'reminders-title' }, body());
  load();
  return card;
}
