// The staff app's service worker: a versioned precache of the shell, the outbox sender for
// Background Sync, and reminders by web push. Served from /app/sw.js so that its scope
// covers the whole app.

import { cacheFirst, fetchWithin } from './network.js';
import { Outbox } from './outbox.js';

// server/staffapp.py replaces 'dev' with a digest of the app's files and fills PRECACHE with
// what the shell needs (read from the files) when serving this.
const VERSION = 'dev';
const PRECACHE = [];
const CACHE = `spiegel-app-${VERSION}`;
const SHELL = '/app/';
// On a bad connection the cached shell is better than waiting for the network.
const NAVIGATION_TIMEOUT_MS = 3000;

// No timers here: the browser may stop the worker at any moment; Background Sync retries.
// Only the signed-in person's answers are sent: the outbox keeps who that is (app.js sets it
// from /api/v1/me and clears it at sign-out), since a worker cannot see the session cookie.
const outbox = new Outbox({ name: 'staff', retryTimers: false });

self.addEventListener('install', (event) => {
  event.waitUntil(
    caches.open(CACHE)
      // 'no-cache': asked again, but a file the page has just fetched comes back as a 304.
      .then((cache) => cache.addAll(PRECACHE.map((url) => new Request(url, { cache: 'no-cache' }))))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches.keys()
      .then((names) => Promise.all(
        names.filter((name) => name.startsWith('spiegel-app-') && name !== CACHE)
          .map((name) => caches.delete(name)),
      ))
      .then(() => self.clients.claim()),
  );
});

async function navigation(request) {
  try {
    return await fetchWithin(request, NAVIGATION_TIMEOUT_MS);
  } catch (error) {
    // The shell holds no personal data; one copy serves /app/, /app/?ref=..., /app/#history.
    const shell = await caches.match(SHELL, { cacheName: CACHE, ignoreSearch: true });
    if (shell) return shell;
    throw error;
  }
}

self.addEventListener('fetch', (event) => {
  const { request } = event;
  const url = new URL(request.url);
  if (request.method !== 'GET' || url.origin !== self.location.origin) return;
  if (!url.pathname.startsWith('/app/')) return; // the API and other pages go to the network
  event.respondWith(request.mode === 'navigate' ? navigation(request) : cacheFirst(request, CACHE));
});

self.addEventListener('sync', (event) => {
  if (event.tag !== outbox.tag) return;
  event.waitUntil(outbox.flush().then((result) => {
    // Failing the event makes the browser schedule the sync again, with its own backoff.
    if (result.outcome === 'retry') throw new Error('answers still waiting');
  }));
});

// --- push: reminders and alerts; the payload is made by server/reminders.py ---------------

/** The payload's own page, or the check-in: never a page of another origin. */
function target(url) {
  const wanted = new URL(url || SHELL, self.location.origin);
  return wanted.origin === self.location.origin ? wanted.href : new URL(SHELL, self.location.origin).href;
}

async function showPush(data) {
  let message = {};
  try {
    message = data ? data.json() : {};
  } catch {
    message = {};
  }
  // Always show something: Safari revokes a subscription whose pushes show no notification.
  return self.registration.showNotification(message.title || 'Spiegel', {
    body: message.body || '',
    lang: message.lang || '',
    tag: message.tag || 'spiegel', // a second push of the same kind replaces the first
    icon: '/app/icons/icon-192.png',
    badge: '/app/icons/icon-192.png',
    data: { url: target(message.url) },
  });
}

self.addEventListener('push', (event) => {
  event.waitUntil(showPush(event.data));
});

async function openFromNotification(url) {
  const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
  const open = windows.find((client) => new URL(client.url).pathname === new URL(url).pathname);
  if (!open) return self.clients.openWindow(url);
  // Navigated even when it seems there already: Chromium's client URL leaves out the view's
  // #fragment, and a tap on a reminder should show the check-in, not the history.
  const shown = (await open.navigate(url)) || open;
  // focus() needs the click's user activation; without it the page is still shown there.
  return shown.focus().catch(() => shown);
}

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const url = target(event.notification.data && event.notification.data.url);
  event.waitUntil(openFromNotification(url));
});
