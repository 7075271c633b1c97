// The outbox: answers wait in IndexedDB until the server has named each one stored or
// duplicate. Shared by the staff app, the kiosk and their service workers; knows no app.
// Each app has its own outbox (database, sync tag, lock), and every entry records whose it
// is: only the current holder's entries are sent, with the holder's credentials, which are
// kept in the same database so that a service worker can send without a page.
// The rules are described in docs/offline.md.

import { NetworkError, postJSON } from './api.js';

const STORE = 'answers';
const HOLDER = 'holder'; // one record: {owner, token} of whoever answers on this device now
const VERSION = 2;
// The staff app's queue kept the name it had when it was the only one, so that answers
// queued before an upgrade are still found.
const DATABASES = { staff: 'spiegel-outbox' };
/** The header that names the owner of the answers sent: the server refuses a session of
 * another person (auth.same_origin_json), so a shared device never files them wrongly. */
export const OWNER_HEADER = 'X-Spiegel-Owner';

/** The IndexedDB database (and sync tag) of the outbox with this name. */
export const databaseName = (name) => DATABASES[name] || `spiegel-outbox-${name}`;

/** Statuses worth retrying later; every other 4xx is about the answers themselves. */
const RETRY_STATUSES = new Set([408, 429]);
const AUTH_STATUSES = new Set([401, 403]);

const sameOwner = (a, b) => (a ?? null) === (b ?? null);

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
  /**
   * name: 'staff', 'kiosk', ...: its database, sync tag and lock are its own.
   * headers: extra request headers, a function (may be async) called for every batch.
   */
  constructor({
    name,
    endpoint = '/api/v1/answers',
    headers = () => ({}),
    batchSize = 100,
    baseDelay = 1000,
    maxDelay = 5 * 60 * 1000,
    retryTimers = true,
  } = {}) {
    super();
    if (!name) throw new Error('an outbox needs a name');
    Object.assign(this, { name, endpoint, headers, batchSize, baseDelay, maxDelay, retryTimers });
    this.database = databaseName(name);
    this.tag = this.database;
    this.failures = 0;
    this.running = null;
    this.again = false;
    this.timer = null;
    this.channel = typeof BroadcastChannel === 'function' ? new BroadcastChannel(this.database) : null;
    if (this.channel) this.channel.onmessage = (event) => this.emit(event.data, false);
  }

  open() {
    if (!this.opening) {
      const request = indexedDB.open(this.database, VERSION);
      request.onupgradeneeded = () => {
        const db = request.result;
        if (!db.objectStoreNames.contains(STORE)) db.createObjectStore(STORE, { keyPath: 'id' });
        if (!db.objectStoreNames.contains(HOLDER)) db.createObjectStore(HOLDER);
      };
      this.opening = done(request).then((db) => {
        // A newer release wants to upgrade the database: make way, and open again when next used.
        db.onversionchange = () => {
          db.close();
          this.opening = null;
        };
        return db;
      });
      this.opening.catch(() => { this.opening = null; });
    }
    return this.opening;
  }

  async transaction(mode, work, stores = [STORE, HOLDER]) {
    const db = await this.open();
    // 'strict' asks the browser to flush to disk before the write counts as done: the
    // tap is confirmed only after this.
    const tx = db.transaction(stores, mode, { durability: mode === 'readwrite' ? 'strict' : 'default' });
    const named = Object.fromEntries(stores.map((store) => [store, tx.objectStore(store)]));
    const result = work(named[STORE], named[HOLDER]);
    await committed(tx);
    return result instanceof IDBRequest ? result.result : result;
  }

  // --- whose answers ------------------------------------------------------------------

  /** Who answers on this device now: {owner, token}; owner null when nobody is known. */
  async holder() {
    const kept = await this.transaction('readonly', (_, holder) => holder.get(HOLDER), [HOLDER]);
    return { owner: null, token: null, ...(kept || {}) };
  }

  /**
   * Record who answers from now on (a person id, a kiosk id) and, for a device without a
   * cookie session, the bearer token sent with its answers. Entries of other owners stay.
   */
  async setHolder(owner, { token = null } = {}) {
    await this.transaction('readwrite', (_, holder) => holder.put({ owner, token }, HOLDER), [HOLDER]);
    this.emit({ holder: owner });
  }

  /** Nobody answers on this device now (sign-out, unpairing): every entry waits. */
  async clearHolder() {
    await this.transaction('readwrite', (_, holder) => holder.delete(HOLDER), [HOLDER]);
    this.emit({ holder: null });
  }

  /** Entries kept before entries had owners belong to the person the app showed then. */
  async adopt(owner) {
    if (owner === null || owner === undefined) return;
    await this.transaction('readwrite', (store) => {
      store.openCursor().onsuccess = (event) => {
        const cursor = event.target.result;
        if (!cursor) return;
        if (!('owner' in cursor.value)) cursor.update({ ...cursor.value, owner });
        cursor.continue();
      };
    });
  }

  /** The holder, their entries, and how many entries wait for someone else; one read. */
  async entries() {
    let kept;
    let all;
    await this.transaction('readonly', (store, holder) => {
      holder.get(HOLDER).onsuccess = (event) => { kept = event.target.result; };
      store.getAll().onsuccess = (event) => { all = event.target.result; };
    });
    const holder = { owner: null, token: null, ...(kept || {}) };
    const mine = all.filter((entry) => sameOwner(entry.owner, holder.owner));
    return { holder, mine, others: all.length - mine.length };
  }

  emit(detail, broadcast = true) {
    const event = new Event('change');
    event.detail = detail;
    this.dispatchEvent(event);
    if (broadcast && this.channel) this.channel.postMessage(detail);
  }

  /**
   * Keep an answer (with its client UUID in answer.id) as the current holder's; resolves
   * once it is on disk. The owner is read in the same transaction as the write.
   */
  async add(answer) {
    const entry = { id: answer.id, answer, state: 'queued', queuedAt: Date.now(), owner: null };
    await this.transaction('readwrite', (store, holder) => {
      holder.get(HOLDER).onsuccess = (event) => {
        entry.owner = event.target.result ? event.target.result.owner : null;
        store.add(entry);
      };
    });
    this.emit({ added: [answer] });
    this.requestBackgroundSync();
    return entry;
  }

  /** Every entry, whoever's. */
  all() {
    return this.transaction('readonly', (store) => store.getAll(), [STORE]);
  }

  /** The current holder's queued entries, oldest first. */
  async queued() {
    return (await this.entries()).mine
      .filter((entry) => entry.state === 'queued')
      .sort((a, b) => a.queuedAt - b.queuedAt);
  }

  async rejected() {
    return (await this.entries()).mine.filter((entry) => entry.state === 'rejected');
  }

  /** Put a rejected answer back in the queue, as the person asked. */
  async retry(id) {
    await this.update(id, (entry) => ({ ...entry, state: 'queued', reason: undefined }));
    this.emit({ requeued: [id] });
    return this.flush();
  }

  /** Remove a rejected answer for good; only the person decides this. */
  async discard(id) {
    await this.transaction('readwrite', (store) => store.delete(id), [STORE]);
    this.emit({ discarded: [id] });
  }

  update(id, change) {
    return this.transaction('readwrite', (store) => {
      // Read and write in one transaction, so an entry deleted meanwhile by another
      // tab or the worker is never brought back.
      store.get(id).onsuccess = (event) => {
        if (event.target.result) store.put(change(event.target.result));
      };
    }, [STORE]);
  }

  requestBackgroundSync() {
    if (typeof navigator === 'undefined' || !navigator.serviceWorker) return;
    if (typeof window === 'undefined') return;
    navigator.serviceWorker.getRegistration().then((registration) => {
      if (registration && registration.sync) return registration.sync.register(this.tag);
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

  /** Run `work` while no page or worker sends this outbox (a flush, or a sign-out). */
  exclusive(work) {
    // One sender at a time across tabs and the worker, where the browser can say so;
    // the server's idempotency makes a double send harmless anyway.
    const locks = typeof navigator !== 'undefined' && navigator.locks;
    return locks ? locks.request(`${this.database}:flush`, work) : work();
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
      // The holder is read again for every batch: a sign-out stops the sending at once.
      const { holder: { owner, token }, mine } = await this.entries();
      const batch = mine.filter((e) => e.state === 'queued' && !tried.has(e.id))
        .sort((a, b) => a.queuedAt - b.queuedAt).slice(0, this.batchSize);
      if (!batch.length) return { outcome: 'done', delivered };
      for (const entry of batch) tried.add(entry.id);
      const headers = { ...(await this.headers()) };
      if (token) headers.Authorization = `Bearer ${token}`;
      if (owner !== null) headers[OWNER_HEADER] = String(owner);
      const outcome = await this.send(batch, delivered, headers);
      if (outcome !== 'done') return { outcome, delivered };
    }
  }

  async send(batch, delivered, headers) {
    let response;
    try {
      response = await postJSON(this.endpoint, { answers: batch.map((e) => e.answer) }, { headers });
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
      const first = await this.send(batch.slice(0, half), delivered, headers);
      return first === 'done' ? this.send(batch.slice(half), delivered, headers) : first;
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
    }, [STORE]);
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
