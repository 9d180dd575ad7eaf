import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { DataConverter, Payload, PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';

// Temporal histories hold every workflow and activity input and result: customer ids, delivery
// addresses, card tokens. This codec encrypts each payload before it leaves the process (clients
// and workers alike), so the Temporal server, its database, the Web UI and `temporal workflow show`
// see only ciphertext; the codec endpoint of the API (api/routes/codec.ts) decrypts for operators.
//
// An encrypted payload is the whole serialized Payload (its metadata and data), AES-256-GCM
// encrypted: data = 12-byte IV || ciphertext || 16-byte tag, metadata { encoding: binary/encrypted,
// encryption-key-id }. The key id is authenticated too (additional data), so a payload cannot be
// passed off as another key's. Payloads that are not binary/encrypted pass through decode
// unchanged: histories recorded before encryption still replay.

export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const KEY_ID_METADATA = 'encryption-key-id';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;
const KEY_ID = /^[A-Za-z0-9_.-]{1,64}$/;

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();
const PayloadProto = temporal.api.common.v1.Payload;

export interface PayloadKey {
  id: string;
  key: Buffer;
}

/** Thrown when a payload cannot be decrypted: unknown key id, tampered or truncated data. */
export class PayloadDecryptionError extends Error {
  override name = 'PayloadDecryptionError';
}

/**
 * Parses a keyring `id1:base64key,id2:base64key` (whitespace and newlines also separate entries,
 * `#` starts a comment line in a file): the first key encrypts, every key decrypts. Each key is
 * 32 bytes in base64 or base64url (`openssl rand -base64 32`).
 */
export function parsePayloadKeys(spec: string, source = 'PAYLOAD_KEYS'): PayloadKey[] {
  const entries = spec
    .split('\n')
    .filter((line) => !line.trim().startsWith('#'))
    .join(',')
    .split(/[,\s]+/)
    .filter((e) => e !== '');
  if (entries.length === 0) throw new Error(`${source}: no key (expected id:base64key[,id:base64key...])`);
  const keys: PayloadKey[] = [];
  for (const entry of entries) {
    const colon = entry.indexOf(':');
    const id = colon < 0 ? '' : entry.slice(0, colon);
    const encoded = colon < 0 ? '' : entry.slice(colon + 1);
    // The id is reported, never the key material.
    if (!KEY_ID.test(id)) throw new Error(`${source}: each entry is id:base64key with an id of 1-64 letters, digits, _ . or -`);
    if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(encoded)) throw new Error(`${source}: key "${id}" is not base64`);
    const key = Buffer.from(encoded.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
    if (key.length !== KEY_BYTES) throw new Error(`${source}: key "${id}" is ${key.length} bytes, AES-256 needs ${KEY_BYTES}`);
    if (keys.some((k) => k.id === id)) throw new Error(`${source}: key id "${id}" appears twice`);
    keys.push({ id, key });
  }
  return keys;
}

/** A new random key entry, `id:base64key`. */
export function generatePayloadKey(id: string): string {
  return `${id}:${randomBytes(KEY_BYTES).toString('base64')}`;
}

/** AES-256-GCM over whole payloads, with a keyring: the first key encrypts, all of them decrypt. */
export class EncryptionCodec implements PayloadCodec {
  private readonly primary: PayloadKey;
  private readonly byId: Map<string, Buffer>;

  constructor(keys: PayloadKey[]) {
    if (keys.length === 0) throw new Error('EncryptionCodec needs at least one key');
    for (const k of keys) {
      if (k.key.length !== KEY_BYTES) throw new Error(`key "${k.id}" is ${k.key.length} bytes, AES-256 needs ${KEY_BYTES}`);
    }
    this.primary = keys[0]!;
    this.byId = new Map(keys.map((k) => [k.id, k.key]));
  }

  /** The id of the key new payloads are encrypted with. */
  get keyId(): string {
    return this.primary.id;
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => this.encrypt(payload));
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => this.decrypt(payload));
  }

  private encrypt(payload: Payload): Payload {
    const plain = PayloadProto.encode(payload).finish();
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.primary.key, iv);
    cipher.setAAD(Buffer.from(this.primary.id, 'utf8'));
    const data = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
    return {
      metadata: { encoding: textEncoder.encode(ENCRYPTED_ENCODING), [KEY_ID_METADATA]: textEncoder.encode(this.primary.id) },
      data: new Uint8Array(data),
    };
  }

  private decrypt(payload: Payload): Payload {
    const encoding = payload.metadata?.encoding;
    if (!encoding || textDecoder.decode(encoding) !== ENCRYPTED_ENCODING) return payload;
    const idBytes = payload.metadata?.[KEY_ID_METADATA];
    if (!idBytes) throw new PayloadDecryptionError(`An encrypted payload without its ${KEY_ID_METADATA}`);
    const keyId = textDecoder.decode(idBytes);
    const key = this.byId.get(keyId);
    if (!key) throw new PayloadDecryptionError(`No payload key "${keyId}" in the keyring (keys: ${[...this.byId.keys()].join(', ')})`);
    const data = Buffer.from(payload.data ?? new Uint8Array());
    if (data.length < IV_BYTES + TAG_BYTES) throw new PayloadDecryptionError(`An encrypted payload (key "${keyId}") too short to be one`);
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, IV_BYTES));
      decipher.setAAD(Buffer.from(keyId, 'utf8'));
      decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
      const plain = Buffer.concat([decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)), decipher.final()]);
      return PayloadProto.decode(plain);
    } catch {
      throw new PayloadDecryptionError(`A payload encrypted with key "${keyId}" failed authentication (tampered, truncated or another key)`);
    }
  }
}

export interface PayloadKeySettings {
  NODE_ENV: 'development' | 'test' | 'production';
  PAYLOAD_KEYS?: string;
  PAYLOAD_KEYS_FILE?: string;
}

/** Where a development stack keeps its generated keyring (git-ignored with the rest of .data/). */
export const DEV_PAYLOAD_KEYS_FILE = path.resolve(__dirname, '..', '..', '.data', 'payload-keys');

/**
 * The keyring from PAYLOAD_KEYS or PAYLOAD_KEYS_FILE. Production refuses to run without one; in
 * development and tests a keyring is generated once into .data/payload-keys and reused, so the
 * local stack's histories stay readable across restarts.
 */
export function payloadKeysFrom(settings: PayloadKeySettings, devFile = DEV_PAYLOAD_KEYS_FILE): PayloadKey[] {
  if (settings.PAYLOAD_KEYS !== undefined && settings.PAYLOAD_KEYS_FILE !== undefined) {
    throw new Error('Set PAYLOAD_KEYS or PAYLOAD_KEYS_FILE, not both');
  }
  if (settings.PAYLOAD_KEYS !== undefined) return parsePayloadKeys(settings.PAYLOAD_KEYS);
  if (settings.PAYLOAD_KEYS_FILE !== undefined) {
    let text: string;
    try {
      text = fs.readFileSync(settings.PAYLOAD_KEYS_FILE, 'utf8');
    } catch (err) {
      throw new Error(`PAYLOAD_KEYS_FILE: cannot read ${settings.PAYLOAD_KEYS_FILE}: ${(err as Error).message}`, { cause: err });
    }
    return parsePayloadKeys(text, `PAYLOAD_KEYS_FILE (${settings.PAYLOAD_KEYS_FILE})`);
  }
  if (settings.NODE_ENV === 'production') {
    throw new Error('PAYLOAD_KEYS or PAYLOAD_KEYS_FILE must be set in production: Temporal payloads are encrypted');
  }
  return parsePayloadKeys(devKeyring(devFile), devFile);
}

function devKeyring(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    const entry = `${generatePayloadKey(`dev-${new Date().toISOString().slice(0, 10)}`)}\n`;
    fs.mkdirSync(path.dirname(file), { recursive: true });
    // 'wx': two processes starting together keep the first one's key.
    try {
      fs.writeFileSync(file, entry, { mode: 0o600, flag: 'wx' });
    } catch {
      return fs.readFileSync(file, 'utf8');
    }
    return entry;
  }
}

/** The codec of every Temporal client and worker of this system, from the process's settings. */
export function payloadCodecFrom(settings: PayloadKeySettings): EncryptionCodec {
  return new EncryptionCodec(payloadKeysFrom(settings));
}

/** The data converter for Client, Worker.create and Worker.runReplayHistories. */
export function dataConverterFor(codec: PayloadCodec): DataConverter {
  return { payloadCodecs: [codec] };
}

/**
 * Decodes, in place, every payload found in a fetched history (or any object of Temporal's protos)
 * with the codecs, as a client does with what it receives: for code that reads a history's payloads
 * itself (the operator's desk). A payload the codecs cannot decode is left as it is.
 */
export async function decodePayloadsIn<T>(value: T, codecs: readonly PayloadCodec[]): Promise<T> {
  if (codecs.length === 0) return value;
  const found: Payload[] = [];
  const walk = (v: unknown, depth: number) => {
    if (!v || typeof v !== 'object' || ArrayBuffer.isView(v) || depth > 64) return;
    if (Array.isArray(v)) return v.forEach((x) => walk(x, depth + 1));
    const o = v as Record<string, unknown>;
    const metadata = o.metadata as Record<string, unknown> | null | undefined;
    if (metadata && typeof metadata === 'object' && metadata.encoding instanceof Uint8Array) {
      found.push(o as Payload);
      return;
    }
    for (const child of Object.values(o)) walk(child, depth + 1);
  };
  walk(value, 0);
  for (const payload of found) {
    try {
      let decoded = [payload];
      for (const codec of [...codecs].reverse()) decoded = await codec.decode(decoded);
      if (decoded[0] !== payload) Object.assign(payload, { metadata: decoded[0]!.metadata, data: decoded[0]!.data });
    } catch {
      // not ours to read: shown as it is
    }
  }
  return value;
}
