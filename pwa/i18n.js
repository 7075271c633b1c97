// Texts come from the server's message catalogue (server/messages/*.json, the app.* keys),
// served at /app/i18n/<language>.json and kept by the service worker for offline use.

export const LANGUAGES = ['nl', 'en'];
const FALLBACK = 'nl';

let messages = {};
let current = FALLBACK;

/** The person's own setting first, else the browser's first language we speak. */
export function pickLanguage(preferred) {
  if (LANGUAGES.includes(preferred)) return preferred;
  for (const tag of navigator.languages || [navigator.language || '']) {
    const code = tag.slice(0, 2).toLowerCase();
    if (LANGUAGES.includes(code)) return code;
  }
  return FALLBACK;
}

export async function load(language) {
  const response = await fetch(`/app/i18n/${language}.json`);
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
