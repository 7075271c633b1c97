// The outbox: answers wait in IndexedDB until the server has named each one stored or
// duplicate. Shared by the staff app, its service worker and the kiosk; knows no app.
// The rules are described in docs/offline.md.

import { NetworkError, postJSON } from './api.js';

export const SYNC_TAG = 'spiegel-outbox';
const STORE = 'answers';

/** Statuses worth retrying later; every other 4xx is about the answers themselves. */
const RETRY_STATUSES = new Set([408, 429]);
const AUTH_STATUSES = new Set([401, 403]);

function done(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

function committed(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error || new Error('transaction aborted'));
  });
}

export class Outbox extends EventTarget {
  constructor({
    name = 'spiegel-outbox',
    endpoint = '/api/v1/answers',
    headers = () => ({}),
    batchSize = 100,
    baseDelay = 1000,
    maxDelay = 5 * 60 * 1000,
    retryTimers = true,
  } = {}) {
    super();
    Object.assign(this, { name, endpoint, headers, batchSize, baseDelay, maxDelay, retryTimers });
    this.failures = 0;
    this.running = null;
    this.again = false;
    this.timer = null;
    this.channel = typeof BroadcastChannel === 'function' ? new BroadcastChannel(name) : null;
    if (this.channel) this.channel.onmessage = (event) => this.emit(event.data, false);
  }

  database() {
    if (!this.opening) {
      const request = indexedDB.open(this.name, 1);
      request.onupgradeneeded = () => request.result.createObjectStore(STORE, { keyPath: 'id' });
      this.opening = done(request);
    }
    return this.opening;
  }

  async transaction(mode, work) {
    const db = await this.database();
    // 'strict' asks the browser to flush to disk before the write counts as done: the
    // tap is confirmed only after this.
    const tx = db.transaction(STORE, mode, { durability: mode === 'readwrite' ? 'strict' : 'default' });
    const result = work(tx.objectStore(STORE));
    await committed(tx);
    return result instanceof IDBRequest ? result.result : result;
  }

  emit(detail, broadcast = true) {
    const event = new Event('change');
    event.detail = detail;
    this.dispatchEvent(event);
    if (broadcast && this.channel) this.channel.postMessage(detail);
  }

  /** Keep an answer (with its client UUID in answer.id); resolves once it is on disk. */
  async add(answer) {
    const entry = { id: answer.id, answer, state: 'queued', queuedAt: Date.now() };
    await this.transaction('readwrite', (store) => store.add(entry));
    this.emit({ added: [answer] });
    this.requestBackgroundSync();
    return entry;
  }

  all() {
    return this.transaction('readonly', (store) => store.getAll());
  }

  async queued() {
    return (await this.all())
      .filter((entry) => entry.state === 'queued')
      .sort((a, b) => a.queuedAt - b.queuedAt);
  }

  async rejected() {
    return (await this.all()).filter((entry) => entry.state === 'rejected');
  }

  /** Put a rejected answer back in the queue, as the person asked. */
  async retry(id) {
    await this.update(id, (entry) => ({ ...entry, state: 'queued', reason: undefined }));
    this.emit({ requeued: [id] });
    return this.flush();
  }

  /** Remove a rejected answer for good; only the person decides this. */
  async discard(id) {
    await this.transaction('readwrite', (store) => store.delete(id));
    this.emit({ discarded: [id] });
  }

  update(id, change) {
    return this.transaction('readwrite', (store) => {
      // Read and write in one transaction, so an entry deleted meanwhile by another
      // tab or the worker is never brought back.
      store.get(id).onsuccess = (event) => {
        if (event.target.result) store.put(change(event.target.result));
      };
    });
  }

  requestBackgroundSync() {
    if (typeof navigator === 'undefined' || !navigator.serviceWorker) return;
    if (typeof window === 'undefined') return;
    navigator.serviceWorker.getRegistration().then((registration) => {
      if (registration && registration.sync) return registration.sync.register(SYNC_TAG);
      return undefined;
    }).catch(() => {});
  }

  /**
   * Send everything queued, in batches. Resolves to {outcome, delivered}: outcome is
   * 'done', 'retry' (network or server trouble; a retry is scheduled) or 'auth'.
   * Calls made while a flush runs are folded into one more round after it.
   */
  flush() {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    clearTimeout(this.timer);
    this.running = (async () => {
      let result;
      do {
        this.again = false;
        result = await this.exclusive(() => this.drain());
      } while (this.again && result.outcome === 'done');
      this.afterFlush(result);
      return result;
    })().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  exclusive(work) {
    // One sender at a time across tabs and the worker, where the browser can say so;
    // the server's idempotency makes a double send harmless anyway.
    const locks = typeof navigator !== 'undefined' && navigator.locks;
    return locks ? locks.request(`${this.name}:flush`, work) : work();
  }

  afterFlush(result) {
    if (result.outcome === 'retry') {
      this.failures += 1;
      if (this.retryTimers) this.timer = setTimeout(() => this.flush(), this.backoff());
    } else {
      this.failures = 0;
    }
  }

  /** Exponential backoff with jitter: half the step fixed, half random. */
  backoff() {
    const step = Math.min(this.maxDelay, this.baseDelay * 2 ** (this.failures - 1));
    return step / 2 + Math.random() * (step / 2);
  }

  async drain() {
    const delivered = [];
    const tried = new Set();
    for (;;) {
      const batch = (await this.queued()).filter((e) => !tried.has(e.id)).slice(0, this.batchSize);
      if (!batch.length) return { outcome: 'done', delivered };
      for (const entry of batch) tried.add(entry.id);
      const outcome = await this.send(batch, delivered);
      if (outcome !== 'done') return { outcome, delivered };
    }
  }

  async send(batch, delivered) {
    let response;
    try {
      response = await postJSON(this.endpoint, { answers: batch.map((e) => e.answer) }, {
        headers: this.headers(),
      });
    } catch (error) {
      if (error instanceof NetworkError) return 'retry';
      throw error;
    }
    if (response.ok) return this.settle(batch, response.data, delivered);
    if (AUTH_STATUSES.has(response.status)) return 'auth';
    if (RETRY_STATUSES.has(response.status) || response.status >= 500) return 'retry';
    // A whole-batch refusal (400, 413, ...): halve the batch until the bad answer is alone.
    if (batch.length > 1) {
      const half = Math.ceil(batch.length / 2);
      const first = await this.send(batch.slice(0, half), delivered);
      return first === 'done' ? this.send(batch.slice(half), delivered) : first;
    }
    const detail = response.data && response.data.detail ? `: ${response.data.detail}` : '';
    await this.setAside(batch[0].id, `HTTP ${response.status}${detail}`);
    return 'done';
  }

  async settle(batch, data, delivered) {
    const results = (data && Array.isArray(data.results)) ? data.results : [];
    const byId = new Map(batch.map((entry) => [entry.id, entry]));
    const gone = [];
    const refused = [];
    for (const result of results) {
      const entry = byId.get(result.id);
      if (!entry) continue;
      if (result.status === 'stored' || result.status === 'duplicate') gone.push(entry);
      else if (result.status === 'rejected') refused.push([entry, result.reason || 'rejected']);
    }
    await this.transaction('readwrite', (store) => {
      for (const entry of gone) store.delete(entry.id);
    });
    for (const [entry, reason] of refused) await this.setAside(entry.id, reason);
    delivered.push(...gone.map((entry) => entry.answer));
    if (gone.length) this.emit({ delivered: gone.map((entry) => entry.answer) });
    // An answer the server did not name stays queued and is tried again later.
    return gone.length + refused.length < batch.length ? 'retry' : 'done';
  }

  async setAside(id, reason) {
    await this.update(id, (entry) => ({ ...entry, state: 'rejected', reason }));
    this.emit({ rejected: [id] });
  }
}
