// The kiosk's service worker: a versioned precache of the kiosk (its shell, modules, texts and
// icons), and the outbox sender for Background Sync. Served from /kiosk/sw.js so that its
// scope is the kiosk alone; it never touches the staff app's caches or queue.

import { cacheFirst, fetchWithin } from './network.js';
import { Outbox } from './outbox.js';

// server/staffapp.py replaces 'dev' with a digest of the kiosk's files and fills PRECACHE with
// what the shell needs (read from the files) when serving this.
const VERSION = 'dev';
const PRECACHE = [];
const CACHE = `spiegel-kiosk-${VERSION}`;
const SHELL = '/kiosk/';
// Wi-Fi on a shop floor comes and goes: the cached shell is better than waiting for it.
const NAVIGATION_TIMEOUT_MS = 3000;

// The device token is kept in the outbox's own database (its holder), so this worker sends
// the kiosk's answers with no page open. No timers: Background Sync retries.
const outbox = new Outbox({ name: 'kiosk', retryTimers: false, batchSize: 500 });

self.addEventListener('install', (event) => {
  event.waitUntil(
    caches.open(CACHE)
      .then((cache) => cache.addAll(PRECACHE.map((url) => new Request(url, { cache: 'reload' }))))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches.keys()
      .then((names) => Promise.all(
        names.filter((name) => name.startsWith('spiegel-kiosk-') && name !== CACHE)
          .map((name) => caches.delete(name)),
      ))
      .then(() => self.clients.claim()),
  );
});

async function navigation(request) {
  try {
    return await fetchWithin(request, NAVIGATION_TIMEOUT_MS);
  } catch (error) {
    // One shell serves /kiosk/, /kiosk/?ref=..., /kiosk/pair?code=... and /kiosk/settings.
    const shell = await caches.match(SHELL, { cacheName: CACHE, ignoreSearch: true });
    if (shell) return shell;
    throw error;
  }
}

self.addEventListener('fetch', (event) => {
  const { request } = event;
  const url = new URL(request.url);
  if (request.method !== 'GET' || url.origin !== self.location.origin) return;
  if (!url.pathname.startsWith('/kiosk/')) return; // the API goes to the network
  event.respondWith(request.mode === 'navigate' ? navigation(request) : cacheFirst(request, CACHE));
});

self.addEventListener('sync', (event) => {
  if (event.tag !== outbox.tag) return;
  event.waitUntil(outbox.flush().then((result) => {
    // Failing the event makes the browser schedule the sync again, with its own backoff.
    if (result.outcome === 'retry') throw new Error('answers still waiting');
  }));
});
