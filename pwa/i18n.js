// Texts come from the server's message catalogue (server/messages/*.json): each front end's
// own keys (app.*, kiosk.*) and the shared ones (face.*), served beside this module at
// <front end>/i18n/<language>.json and kept by that app's service worker for offline use.

export const LANGUAGES = ['nl', 'en'];
const FALLBACK = 'nl';

let messages = {};
let current = FALLBACK;

/** The person's own setting first, else the browser's first language on offer (the
 * organisation's choice, /api/v1/me's `languages`), else the organisation's default. */
export function pickLanguage(preferred, offered = LANGUAGES, fallback = FALLBACK) {
  if (offered.includes(preferred)) return preferred;
  for (const tag of navigator.languages || [navigator.language || '']) {
    const code = tag.slice(0, 2).toLowerCase();
    if (offered.includes(code)) return code;
  }
  return offered.includes(fallback) ? fallback : offered[0];
}

export async function load(language) {
  // Relative to this module: /app/i18n.js reads /app/i18n/, /kiosk/i18n.js /kiosk/i18n/.
  const response = await fetch(new URL(`i18n/${language}.json`, import.meta.url));
  messages = await response.json();
  current = language;
  document.documentElement.lang = language;
}

export const language = () => current;

export function t(key, values = {}) {
  const text = messages[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (match, name) => (name in values ? String(values[name]) : match));
}

/** A counted text: key.one or key.other, chosen by the language's plural rules. */
export function plural(key, n, values = {}) {
  const form = new Intl.PluralRules(current).select(n) === 'one' ? 'one' : 'other';
  return t(`${key}.${form}`, { n, ...values });
}

export function formatDate(date, options) {
  return new Intl.DateTimeFormat(current === 'nl' ? 'nl-NL' : 'en-GB', options).format(date);
}
