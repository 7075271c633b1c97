// The manager view's service worker: the last copy of each page a manager opened, to read
// offline, and the design system's files. Served from /manager/sw.js with the scope /manager.

import { cacheFirst, fetchWithin } from '/app/network.js';

// server/staffapp.py replaces 'dev' with a digest of the app's files when serving this.
const VERSION = 'dev';
const CACHE = `spiegel-manager-${VERSION}`;
const PAGES = 'spiegel-manager-pages';
const PRECACHE = ['/app/app.css', '/app/manager.js', '/app/icons/icon.svg', '/app/icons/icon-192.png'];
// On a bad connection the last copy is better than waiting for the network.
const NAVIGATION_TIMEOUT_MS = 4000;

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
        names.filter((name) => name.startsWith('spiegel-manager-') && name !== CACHE && name !== PAGES)
          .map((name) => caches.delete(name)),
      ))
      .then(() => self.clients.claim()),
  );
});

/** The kept copy, marked so that the page says it is offline and how old its figures are. */
async function keptCopy(request) {
  // The same page for the period asked, else for another period (the page names its own).
  const kept = await caches.match(request, { cacheName: PAGES })
    || await caches.match(request, { cacheName: PAGES, ignoreSearch: true });
  if (!kept) return null;
  const html = (await kept.text()).replace('data-offline="no"', 'data-offline="yes"');
  return new Response(html, { status: 200, headers: { 'Content-Type': 'text/html; charset=utf-8' } });
}

async function page(request) {
  let response;
  try {
    response = await fetchWithin(request, NAVIGATION_TIMEOUT_MS);
  } catch (error) {
    const kept = await keptCopy(request);
    if (kept) return kept;
    throw error;
  }
  if (response.ok) {
    // A copy that cannot be kept (storage full) must not cost the page itself.
    await caches.open(PAGES).then((cache) => cache.put(request, response.clone())).catch(() => {});
  }
  return response;
}

self.addEventListener('fetch', (event) => {
  const { request } = event;
  const url = new URL(request.url);
  if (request.method !== 'GET' || url.origin !== self.location.origin) return;
  if (request.mode === 'navigate' && url.pathname.startsWith('/manager')) {
    event.respondWith(page(request));
  } else if (PRECACHE.includes(url.pathname)) {
    event.respondWith(cacheFirst(request, CACHE));
  }
});
