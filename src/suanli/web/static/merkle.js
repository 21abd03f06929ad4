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

/** Whether `head` (GET /v1/audit/head) carries a valid Ed25519 signature by its public key:
 * the signed bytes are the canonical JSON of format, rootHash, time and treeSize (sorted
 * keys, no spaces), as suanli/ledger/ledger.py signed_message builds them. */
export async function verifyHeadSignature(head) {
  if (!globalThis.crypto?.subtle) {
    throw new Error("WebCrypto is unavailable: open the dashboard over HTTPS or on localhost");
  }
  const message = JSON.stringify({
    format: head.format, rootHash: head.root, time: head.time, treeSize: head.treeSize,
  });
  const key = await crypto.subtle.importKey("raw", fromHex(head.publicKey), { name: "Ed25519" }, false, ["verify"]);
  return crypto.subtle.verify({ name: "Ed25519" }, key, fromHex(head.signature), new TextEncoder().encode(message));
}
