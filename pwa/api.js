// The JSON client shared by the staff app and the kiosk. It works in a page and in a
// service worker, and knows nothing of either app.

/** The request never got a complete answer: offline, refused, timed out or cut off. */
export class NetworkError extends Error {}

/**
 * Send one JSON request; resolve to {status, ok, data}. Rejects only with NetworkError.
 * A body is always sent as application/json: the server's CSRF defence for cookie
 * sessions (auth.same_origin_json) refuses anything else.
 */
export async function request(method, path, { body, headers = {}, timeout = 30000 } = {}) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeout);
  const sent = { Accept: 'application/json', ...headers };
  if (body !== undefined) sent['Content-Type'] = 'application/json';
  try {
    let response;
    try {
      response = await fetch(path, {
        method,
        headers: sent,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: 'same-origin',
        cache: 'no-store',
        signal: controller.signal,
      });
    } catch (error) {
      throw new NetworkError(String(error));
    }
    let data = null;
    try {
      data = await response.json();
    } catch (error) {
      // A 2xx whose body was cut off says nothing about what the server did: treat it
      // as a lost connection, so the caller retries instead of guessing.
      if (response.ok) throw new NetworkError(`incomplete response: ${error}`);
    }
    return { status: response.status, ok: response.ok, data };
  } finally {
    clearTimeout(timer);
  }
}

export const getJSON = (path, options) => request('GET', path, options);
export const postJSON = (path, body, options) => request('POST', path, { ...options, body });
export const patchJSON = (path, body, options) => request('PATCH', path, { ...options, body });
