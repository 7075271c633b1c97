// A customer link's page (/c/<token>): one tap on a face stores the answer; then optionally
// NPS and a reason. Answers go through the shared outbox, so a tap made offline is sent when
// the phone is back online. No cookie: the link's token travels in the X-Spiegel-Link header.

import { Outbox } from './outbox.js';

const root = document.getElementById('customer');
const token = root.dataset.token;
const ref = root.dataset.ref || null;
const outbox = new Outbox({ name: 'link', headers: () => ({ 'X-Spiegel-Link': token }) });
let npsValue = null;

function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  // Outside a secure context randomUUID is missing; the same version-4 layout by hand.
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function answer(question, value, reason = '') {
  const made = { id: uuid(), question: Number(question), value, answered_at: new Date().toISOString() };
  if (ref) made.contact_ref = ref;
  if (reason.trim()) made.reason = reason.trim();
  return made;
}

function show(id) {
  for (const part of ['ask', 'more', 'thanks']) {
    const element = document.getElementById(part);
    if (element) element.hidden = part !== id;
  }
}

/** Say what became of the answers: sent, waiting for the network, or refused. */
async function report(result) {
  const outcome = document.getElementById('outcome');
  const saved = document.getElementById('saved');
  const rejected = outbox.rejected ? await outbox.rejected() : [];
  let text = null;
  if (rejected.length) text = root.dataset.rejected;
  else if (result && result.outcome === 'auth') text = root.dataset.closed;
  else if (result && result.outcome === 'retry') text = root.dataset.waiting;
  for (const element of [outcome, saved]) {
    if (!element) continue;
    if (!element.dataset.text) element.dataset.text = element.textContent;
    element.textContent = text || element.dataset.text;
    element.classList.toggle('problem', Boolean(text) && text !== root.dataset.waiting);
  }
  root.dataset.sync = result ? result.outcome : 'idle';
}

function send() {
  return outbox.flush().then(report, () => report({ outcome: 'retry' }));
}

async function keep(made) {
  await outbox.add(made);
  await send();
}

function tapFace(event) {
  const button = event.currentTarget;
  if (root.dataset.tapped) return;
  root.dataset.tapped = 'yes';
  for (const face of document.querySelectorAll('.face')) face.setAttribute('aria-disabled', 'true');
  button.setAttribute('aria-pressed', 'true');
  button.classList.add('tapped');
  keep(answer(root.dataset.smiley, Number(button.dataset.value)));
  show(root.dataset.nps ? 'more' : 'thanks');
}

function pickScore(event) {
  npsValue = Number(event.currentTarget.dataset.value);
  for (const score of document.querySelectorAll('.score')) {
    score.setAttribute('aria-pressed', String(Number(score.dataset.value) === npsValue));
  }
  event.currentTarget.classList.add('tapped');
}

function sendFollowUp(event) {
  event.preventDefault();
  if (npsValue !== null) {
    keep(answer(root.dataset.nps, npsValue, document.getElementById('reason').value));
  }
  show('thanks');
}

async function start() {
  if (root.dataset.done === 'yes') return;
  if (outbox.setHolder) await outbox.setHolder(token);
  for (const face of document.querySelectorAll('.face')) face.addEventListener('click', tapFace);
  for (const score of document.querySelectorAll('.score')) score.addEventListener('click', pickScore);
  const follow = document.getElementById('follow');
  if (follow) follow.addEventListener('submit', sendFollowUp);
  const skip = document.getElementById('skip');
  if (skip) skip.addEventListener('click', () => show('thanks'));
  window.addEventListener('online', send);
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') send();
  });
  root.dataset.ready = 'yes';
  // Taps kept on this phone from an earlier visit without network go now.
  send();
}

start();
