// What both service workers (the staff app's and the manager view's) do with the network.

/** fetch(), given up after `ms`: on a bad connection a kept copy beats waiting. */
export async function fetchWithin(request, ms) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), ms);
  try {
    return await fetch(request, { signal: controller.signal });
  } finally {
    clearTimeout(timer);
  }
}

/** The copy in `cacheName` if there is one, else the network. */
export async function cacheFirst(request, cacheName) {
  const cached = await caches.match(request, { cacheName });
  return cached || fetch(request);
}
