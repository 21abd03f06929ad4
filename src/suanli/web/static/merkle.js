// RFC 9162 section 2.1.3.2: verify an inclusion proof with WebCrypto SHA-256.
// Node hashes are SHA-256(0x01 || left || right), as in suanli/ledger/merkle.py.

export function fromHex(hex) {
  if (!/^([0-9a-f]{2})*$/i.test(hex)) throw new Error(`not hex: ${hex.slice(0, 16)}…`);
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(2 * i, 2), 16);
  return out;
}

export function toHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function nodeHash(left, right) {
  const buf = new Uint8Array(1 + left.length + right.length);
  buf[0] = 1;
  buf.set(left, 1);
  buf.set(right, 1 + left.length);
  return new Uint8Array(await crypto.subtle.digest("SHA-256", buf));
}

/** The root that `path` proves for leaf `index` of a tree of `size` leaves; throws if the
 * proof has the wrong length. */
export async function rootFromInclusion(index, size, leafHex, pathHex) {
  if (!globalThis.crypto?.subtle) {
    throw new Error("WebCrypto is unavailable: open the dashboard over HTTPS or on localhost");
  }
  if (!(index >= 0 && index < size)) throw new Error(`leaf ${index} is not in a tree of ${size}`);
  let fn = index;
  let sn = size - 1;
  let r = fromHex(leafHex);
  for (const hex of pathHex) {
    const p = fromHex(hex);
    if (sn === 0) throw new Error("the proof is longer than the tree allows");
    if (fn % 2 === 1 || fn === sn) {
      r = await nodeHash(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = await nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  if (sn !== 0) throw new Error("the proof is shorter than the tree needs");
  return toHex(r);
}

/** Whether `head` (GET /v1/audit/head) carries a valid Ed25519 signature by `publicKey`
 * (default: the one the head names; `verifyHeadWithHistory` takes it from the key history):
 * the signed bytes are the canonical JSON of format, rootHash, time and treeSize (sorted
 * keys, no spaces), as suanli/ledger/ledger.py signed_message builds them. */
export async function verifyHeadSignature(head, publicKey = head.publicKey) {
  if (!globalThis.crypto?.subtle) {
    throw new Error("WebCrypto is unavailable: open the dashboard over HTTPS or on localhost");
  }
  const message = JSON.stringify({
    format: head.format, rootHash: head.root, time: head.time, treeSize: head.treeSize,
  });
  return ed25519Verify(publicKey, head.signature, message);
}

const ROTATION_FORMAT = "suanli-ledger-key-rotation/1";

async function ed25519Verify(publicKeyHex, signatureHex, message) {
  const key = await crypto.subtle.importKey("raw", fromHex(publicKeyHex), { name: "Ed25519" }, false, ["verify"]);
  return crypto.subtle.verify({ name: "Ed25519" }, key, fromHex(signatureHex), new TextEncoder().encode(message));
}

/** A key's id: the first 32 hex digits of SHA-256 of its raw public key. */
async function keyId(publicKeyHex) {
  return toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", fromHex(publicKeyHex)))).slice(0, 32);
}

/** Check a key history (GET /v1/audit/keys) as suanli/ledger/keyring.py KeyHistory.check
 * does: every key endorsed by the one before (its signature over the canonical JSON of
 * format, newPublicKey, previousKeyId, rootHash, time and treeSize) and by itself; throws an
 * Error naming the key that fails. The first key is the one to compare out of band. */
export async function checkKeyHistory(history) {
  if (!globalThis.crypto?.subtle) {
    throw new Error("WebCrypto is unavailable: open the dashboard over HTTPS or on localhost");
  }
  const keys = history?.keys;
  if (!Array.isArray(keys) || !keys.length) throw new Error("the key history holds no key");
  const seen = new Set();
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i];
    const where = `keys[${i}] (key ${k.keyId})`;
    if ((await keyId(k.publicKey)) !== k.keyId) throw new Error(`${where}: keyId is not the id of its public key`);
    if (seen.has(k.keyId)) throw new Error(`${where}: the key appears twice in the history`);
    seen.add(k.keyId);
    if (i === 0) {
      if (k.validFrom !== 0 || k.endorsement) throw new Error(`${where}: the first key must be valid from 0, unendorsed`);
      continue;
    }
    const prev = keys[i - 1];
    const e = k.endorsement;
    if (!e || e.format !== ROTATION_FORMAT) throw new Error(`${where}: has no endorsement by the key before it`);
    if (e.previousKeyId !== prev.keyId) throw new Error(`${where}: endorsed by key ${e.previousKeyId}, not by the key before it`);
    if (e.treeSize !== k.validFrom || k.validFrom < prev.validFrom) throw new Error(`${where}: validFrom is not the endorsed tree size`);
    const message = JSON.stringify({
      format: ROTATION_FORMAT, newPublicKey: k.publicKey, previousKeyId: e.previousKeyId,
      rootHash: e.rootHash, time: e.time, treeSize: e.treeSize,
    });
    if (!(await ed25519Verify(prev.publicKey, e.signature, message))) {
      throw new Error(`${where}: the endorsement's signature does not verify with the key before it: forged or edited`);
    }
    if (!(await ed25519Verify(k.publicKey, e.possession, message))) {
      throw new Error(`${where}: the possession signature does not verify with the new key itself`);
    }
  }
}

/** Check `head` (GET /v1/audit/head) against `history` (GET /v1/audit/keys), as
 * suanli.ledger.verify_head does: the history (`checkKeyHistory`), the signature by the key
 * the head names (none: the first key), that key valid at the head's tree size, and at a
 * rotation's size the endorsed root. Returns {valid, why, index, key}. */
export async function verifyHeadWithHistory(head, history) {
  await checkKeyHistory(history);
  const keys = history.keys;
  const index = head.keyId ? keys.findIndex((k) => k.keyId === head.keyId) : 0;
  if (index < 0) return { valid: false, why: `signed by key ${head.keyId}, which is not in the key history`, index, key: null };
  const key = keys[index];
  if (!(await verifyHeadSignature(head, key.publicKey))) {
    return { valid: false, why: `the signature does not verify with key ${key.keyId}`, index, key };
  }
  const n = head.treeSize;
  if (n < key.validFrom) return { valid: false, why: `tree size ${n} is before key ${key.keyId} took over at ${key.validFrom}`, index, key };
  const next = keys[index + 1];
  if (next && n > next.validFrom) {
    return { valid: false, why: `key ${key.keyId} was retired at tree size ${next.validFrom}; it cannot sign a head of size ${n}`, index, key };
  }
  for (const k of [key, next]) {
    if (k?.endorsement && k.endorsement.treeSize === n && k.endorsement.rootHash !== head.root) {
      return { valid: false, why: `its root of tree size ${n} differs from the one the rotation to key ${k.keyId} endorses (a fork)`, index, key };
    }
  }
  return { valid: true, why: "", index, key };
}
