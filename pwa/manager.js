// The manager view's page script: says how old the figures are when the page comes from the
// offline copy, registers the worker that keeps that copy, and forgets it at sign-out.

const PAGES = 'spiegel-manager-pages';

function age(generated, language) {
  const minutes = Math.round((Date.now() - generated.getTime()) / 60000);
  const words = new Intl.RelativeTimeFormat(language, { numeric: 'auto' });
  if (Math.abs(minutes) < 60) return words.format(-minutes, 'minute');
  if (Math.abs(minutes) < 48 * 60) return words.format(-Math.round(minutes / 60), 'hour');
  return words.format(-Math.round(minutes / 1440), 'day');
}

function sayOffline() {
  const note = document.getElementById('offline-note');
  if (!note || note.dataset.offline !== 'yes') return;
  const language = document.documentElement.lang || 'nl';
  const generated = new Date(note.dataset.generated);
  const when = new Intl.DateTimeFormat(language === 'nl' ? 'nl-NL' : 'en-GB', {
    weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit',
  }).format(generated);
  note.textContent = note.dataset.text.replace('{when}', `${when} (${age(generated, language)})`);
  note.hidden = false;
  // Offline, a form cannot be sent: say so rather than fail later.
  for (const button of document.querySelectorAll('form[method="post"] button')) button.disabled = true;
}

function forgetAtSignOut() {
  for (const form of document.querySelectorAll('form[action="/signout"]')) {
    form.addEventListener('submit', (event) => {
      if (!('caches' in self) || form.dataset.forgotten) return;
      // Forget first, then sign out: the page that follows must not find a copy.
      event.preventDefault();
      caches.delete(PAGES).catch(() => {}).finally(() => {
        form.dataset.forgotten = 'yes';
        form.submit();
      });
    });
  }
}

sayOffline();
forgetAtSignOut();
if ('serviceWorker' in navigator) {
  navigator.serviceWorker.register('/manager/sw.js', { type: 'module', scope: '/manager' })
    .catch((error) => console.error('service worker', error));
}
