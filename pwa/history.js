// "My history": a person's own answers of the last weeks, counted the way the server counts them
// (the latest answer to a question on a day is that day's answer), charted as days, not scores.

import { h } from './dom.js';
import { faceLabel, position } from './faces.js';
import { formatDate, t } from './i18n.js';

export const WEEKS = 8;

const pad = (n) => String(n).padStart(2, '0');
export const dayOf = (date) => `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;

function weekStart(date) {
  const d = new Date(date.getFullYear(), date.getMonth(), date.getDate());
  d.setDate(d.getDate() - ((d.getDay() + 6) % 7));
  return d;
}

/**
 * One entry per question and day, except contact ratings (each contact is its own): the latest
 * answer holds the day's value, the day's comments travel with it. Newest first in, newest out.
 */
export function daily(answers) {
  const groups = new Map();
  const list = [];
  for (const answer of answers) {
    const key = answer.kind === 'contact_self' ? answer.id : `${answer.question}/${dayOf(new Date(answer.answered_at))}`;
    let entry = groups.get(key);
    if (!entry) {
      entry = { ...answer, comments: [], waiting: false };
      groups.set(key, entry);
      list.push(entry);
    }
    if (answer.comment) entry.comments.push(answer.comment);
    entry.waiting = entry.waiting || Boolean(answer.waiting);
  }
  return list;
}

/** Whether an answer sits in the upper half of its scale (as the manager's figures count it). */
function positive(answer, known) {
  const q = known[answer.question];
  return q ? position(answer.value, q.scale.min, q.scale.max) > 0.5 : false;
}

/** Per week from the oldest shown: days (check-ins) and contacts, each split positive / other. */
export function weekly(entries, known, now = new Date()) {
  const first = weekStart(now);
  first.setDate(first.getDate() - 7 * (WEEKS - 1));
  const weeks = Array.from({ length: WEEKS }, (_, i) => {
    const start = new Date(first);
    start.setDate(first.getDate() + 7 * i);
    return { start, checkin: [0, 0], contact_self: [0, 0] };
  });
  for (const entry of entries) {
    const at = new Date(entry.answered_at);
    const index = Math.floor((weekStart(at) - first) / (7 * 86400000) + 0.5);
    const week = weeks[index];
    if (!week || !(entry.kind in week)) continue;
    week[entry.kind][positive(entry, known) ? 0 : 1] += 1;
  }
  return weeks;
}

function bars(weeks, kind) {
  const top = Math.max(5, ...weeks.map((w) => w[kind][0] + w[kind][1]));
  const unit = 80 / top;
  const columns = weeks.map((w, i) => {
    const x = 34 + i * 36;
    const [good, other] = w[kind];
    const bar = (n, y, cls) => (n ? `<rect class="${cls}" x="${x + 4}" y="${y - n * unit}" width="24" height="${n * unit}" rx="2"/>` : '');
    return bar(good, 100, 'positive') + bar(other, 100 - good * unit, 'negative')
      + `<text x="${x + 16}" y="116" text-anchor="middle">${formatDate(w.start, { day: 'numeric', month: 'numeric' })}</text>`;
  }).join('');
  const grid = [0, top].map((v) => `<line x1="30" x2="322" y1="${100 - v * unit}" y2="${100 - v * unit}"/>`
    + `<text x="26" y="${104 - v * unit}" text-anchor="end">${v}</text>`).join('');
  return `<svg viewBox="0 0 326 122" aria-hidden="true" focusable="false"><g class="grid">${grid}</g>${columns}</svg>`;
}

function chart(weeks, kind) {
  const id = `chart-${kind}`;
  const cell = (w) => {
    const [good, other] = w[kind];
    return good + other ? t('app.history.of', { good, total: good + other }) : t('app.history.empty_cell');
  };
  const week = (w) => t('app.history.week', { date: formatDate(w.start, { day: 'numeric', month: 'long' }) });
  return h('figure', { class: 'card chart', 'aria-labelledby': id },
    h('figcaption', { id }, h('h2', {}, t(`app.history.chart.${kind}`))),
    h('div', { svg: bars(weeks, kind) }),
    h('ul', { class: 'legend' },
      h('li', {}, h('span', { class: 'key positive' }), t(`app.history.positive.${kind}`)),
      h('li', {}, h('span', { class: 'key negative' }), t(`app.history.other.${kind}`))),
    h('details', {},
      h('summary', {}, t('app.history.table')),
      h('table', {},
        h('caption', {}, t(`app.history.chart.${kind}`)),
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, t('app.history.week_column')),
          h('th', { scope: 'col' }, t(`app.history.positive.${kind}`)))),
        h('tbody', {}, weeks.map((w) => h('tr', {}, h('th', { scope: 'row' }, week(w)), h('td', {}, cell(w))))))));
}

/** "Check-in: Good" or "Recommendation (eNPS): 8". */
export function describe(answer, known) {
  const kind = t(`app.kind.${answer.kind}`);
  const q = known[answer.question];
  const value = answer.kind === 'enps' || !q ? String(answer.value) : faceLabel(answer.value, q.scale.min, q.scale.max);
  return `${kind}: ${value}`;
}

export function when(answer) {
  const options = { weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' };
  return h('span', { class: 'when' }, formatDate(new Date(answer.answered_at), options));
}

function item(entry, known) {
  return h('li', {},
    when(entry),
    h('span', {}, describe(entry, known)),
    entry.contact_ref ? h('span', { class: 'muted' }, `#${entry.contact_ref}`) : null,
    entry.comments.map((text) => h('q', {}, text)),
    entry.waiting ? h('span', { class: 'badge' }, t('app.history.waiting')) : null);
}

/** The history view's parts, from own answers (stored and queued), newest first. */
export function historyView(answers, known) {
  const parts = [h('div', { class: 'intro' },
    h('h1', { id: 'title', tabindex: '-1' }, t('app.history.title')),
    h('p', { class: 'muted' }, t('app.history.intro')))];
  if (!answers.length) return [...parts, h('p', {}, t('app.history.none'))];
  const entries = daily(answers);
  const weeks = weekly(entries, known);
  const has = (kind) => entries.some((e) => e.kind === kind);
  parts.push(
    has('checkin') ? chart(weeks, 'checkin') : null,
    has('contact_self') ? chart(weeks, 'contact_self') : null,
    h('section', { class: 'card', 'aria-labelledby': 'recent-title' },
      h('h2', { id: 'recent-title' }, t('app.history.recent')),
      h('ul', { class: 'answers' }, entries.slice(0, 30).map((entry) => item(entry, known)))),
  );
  return parts;
}
