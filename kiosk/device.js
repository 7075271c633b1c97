// What a paired tablet keeps about itself, beside the outbox (which keeps the device token
// and the answers): the kiosk's settings and questions, to run for days offline, and the
// language chosen in its own settings. One small IndexedDB database of its own.

const DATABASE = 'spiegel-kiosk';
const STORE = 'device';

let opening = null;

function done(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

function open() {
  if (!opening) {
    const request = indexedDB.open(DATABASE, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE);
    opening = done(request);
  }
  return opening;
}

async function run(mode, work) {
  const db = await open();
  const tx = db.transaction(STORE, mode);
  const result = work(tx.objectStore(STORE));
  await new Promise((resolve, reject) => {
    tx.oncomplete = resolve;
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error || new Error('transaction aborted'));
  });
  return result instanceof IDBRequest ? result.result : result;
}

export const read = (key) => run('readonly', (store) => store.get(key));
export const write = (key, value) => run('readwrite', (store) => store.put(value, key));
export const forget = (key) => run('readwrite', (store) => store.delete(key));

function bytes(hex) {
  return new Uint8Array(hex.match(/../g).map((pair) => parseInt(pair, 16)));
}

function hex(buffer) {
  return [...new Uint8Array(buffer)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** Whether `pin` is the kiosk's PIN: PBKDF2-SHA256 as server/kiosk.py computes it, so it
 * works offline; the PIN itself is never kept on the tablet. */
export async function pinMatches(pin, check) {
  if (!check || !/^\d{4,8}$/.test(pin)) return false;
  const key = await crypto.subtle.importKey('raw', new TextEncoder().encode(pin), 'PBKDF2', false, ['deriveBits']);
  const bits = await crypto.subtle.deriveBits(
    { name: 'PBKDF2', hash: 'SHA-256', salt: bytes(check.salt), iterations: check.iterations },
    key,
    256,
  );
  return hex(bits) === check.hash;
}
