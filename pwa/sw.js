// The staff app's service worker: a versioned precache of the shell, and the outbox sender
// for Background Sync. Served from /app/sw.js so that its scope covers the whole app.

import { Outbox, SYNC_TAG } from './outbox.js';

// server/staffapp.py replaces 'dev' with a digest of the app's files when serving this.
const VERSION = 'dev';
const CACHE = `spiegel-app-${VERSION}`;
const SHELL = '/app/';
const PRECACHE = [
  SHELL,
  '/app/app.css',
  '/app/app.js',
  '/app/api.js',
  '/app/dom.js',
  '/app/history.js',
  '/app/faces.js',
  '/app/i18n.js',
  '/app/outbox.js',
  '/app/i18n/nl.json',
  '/app/i18n/en.json',
  '/app/manifest.webmanifest',
  '/app/icons/icon.svg',
  '/app/icons/icon-192.png',
  '/app/icons/icon-512.png',
  '/app/icons/maskable-512.png',
];
// On a bad connection the cached shell is better than waiting for the network.
const NAVIGATION_TIMEOUT_MS = 3000;

// No timers here: the browser may stop the worker at any moment; Background Sync retries.
const outbox = new Outbox({ retryTimers: false });

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
        names.filter((name) => name.startsWith('spiegel-app-') && name !== CACHE)
          .map((name) => caches.delete(name)),
      ))
      .then(() => self.clients.claim()),
  );
});

async function navigation(request) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), NAVIGATION_TIMEOUT_MS);
  try {
    return await fetch(request, { signal: controller.signal });
  } catch (error) {
    // The shell holds no personal data; one copy serves /app/, /app/?ref=..., /app/#history.
    const shell = await caches.match(SHELL, { cacheName: CACHE, ignoreSearch: true });
    if (shell) return shell;
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

async function cacheFirst(request) {
  const cached = await caches.match(request, { cacheName: CACHE });
  return cached || fetch(request);
}

self.addEventListener('fetch', (event) => {
  const { request } = event;
  const url = new URL(request.url);
  if (request.method !== 'GET' || url.origin !== self.location.origin) return;
  if (!url.pathname.startsWith('/app/')) return; // the API and other pages go to the network
  event.respondWith(request.mode === 'navigate' ? navigation(request) : cacheFirst(request));
});

self.addEventListener('sync', (event) => {
  if (event.tag !== SYNC_TAG) return;
  event.waitUntil(outbox.flush().then((result) => {
    // Failing the event makes the browser schedule the sync again, with its own backoff.
    if (result.outcome === 'retry') throw new Error('answers still waiting');
  }));
});
