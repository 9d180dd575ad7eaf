import { runToExit } from './support/processes';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { defaultPayloadConverter } from '@temporalio/common';
import {
  decodePayloadsIn,
  ENCRYPTED_ENCODING,
  EncryptionCodec,
  generatePayloadKey,
  KEY_ID_METADATA,
  parsePayloadKeys,
  PayloadDecryptionError,
  payloadKeysFrom,
} from '../lib/node/payload-codec';

// The payload codec on its own: what it writes, what it reads back, what it refuses.

const OLD = generatePayloadKey('k2025');
const NEW = generatePayloadKey('k2026');
const SECRET_INPUT = { orderId: 'ord_1', deliveryAddress: '서울시 강남구 테헤란로 1', paymentMethod: { cardToken: 'tok_secret_visa' } };
const text = (b: Uint8Array | null | undefined) => new TextDecoder().decode(b ?? new Uint8Array());

describe('EncryptionCodec', () => {
  const plain = defaultPayloadConverter.toPayload(SECRET_INPUT);

  it('round-trips a payload, writing only ciphertext, the encoding and the key id', async () => {
    const codec = new EncryptionCodec(parsePayloadKeys(NEW));
    const [encrypted] = await codec.encode([plain]);
    expect(Object.keys(encrypted!.metadata!).sort()).toEqual([KEY_ID_METADATA, 'encoding'].sort());
    expect(text(encrypted!.metadata!.encoding)).toBe(ENCRYPTED_ENCODING);
    expect(text(encrypted!.metadata![KEY_ID_METADATA])).toBe('k2026');
    const bytes = Buffer.from(encrypted!.data!);
    for (const secret of ['tok_secret_visa', '테헤란로', 'json/plain']) {
      expect(bytes.includes(Buffer.from(secret))).toBe(false);
    }
    const [decoded] = await codec.decode([encrypted!]);
    expect(defaultPayloadConverter.fromPayload(decoded!)).toEqual(SECRET_INPUT);
    expect(text(decoded!.metadata!.encoding)).toBe('json/plain');
  });

  it('uses a fresh IV each time: the same payload never encrypts the same twice', async () => {
    const codec = new EncryptionCodec(parsePayloadKeys(NEW));
    const [a, b] = await codec.encode([plain, plain]);
    expect(Buffer.from(a!.data!).equals(Buffer.from(b!.data!))).toBe(false);
  });

  it('rotates: after a new key becomes primary, payloads of the old key still decrypt and new ones use the new key', async () => {
    const before = new EncryptionCodec(parsePayloadKeys(OLD));
    const [old] = await before.encode([plain]);
    const after = new EncryptionCodec(parsePayloadKeys(`${NEW},${OLD}`));
    expect(after.keyId).toBe('k2026');
    expect(defaultPayloadConverter.fromPayload((await after.decode([old!]))[0]!)).toEqual(SECRET_INPUT);
    const [fresh] = await after.encode([plain]);
    expect(text(fresh!.metadata![KEY_ID_METADATA])).toBe('k2026');
    // A process that has only the old key cannot read the new payload: it names the missing key.
    await expect(before.decode([fresh!])).rejects.toThrow(new PayloadDecryptionError('No payload key "k2026" in the keyring (keys: k2025)'));
  });

  it('detects tampering with the data, and a key id swapped for another key of the ring', async () => {
    const codec = new EncryptionCodec(parsePayloadKeys(`${NEW},${OLD}`));
    const [encrypted] = await codec.encode([plain]);
    const flipped = Buffer.from(encrypted!.data!);
    flipped[20]! ^= 0x01;
    await expect(codec.decode([{ ...encrypted!, data: new Uint8Array(flipped) }])).rejects.toThrow(/failed authentication/);
    const relabelled = { ...encrypted!, metadata: { ...encrypted!.metadata!, [KEY_ID_METADATA]: new TextEncoder().encode('k2025') } };
    await expect(codec.decode([relabelled])).rejects.toThrow(/key "k2025" failed authentication/);
    await expect(codec.decode([{ ...encrypted!, data: new Uint8Array(10) }])).rejects.toThrow(/too short/);
    const noId = { ...encrypted!, metadata: { encoding: encrypted!.metadata!.encoding! } };
    await expect(codec.decode([noId])).rejects.toThrow(PayloadDecryptionError);
  });

  it('passes payloads that are not encrypted through decode unchanged (histories from before encryption)', async () => {
    const codec = new EncryptionCodec(parsePayloadKeys(NEW));
    const binaryNull = defaultPayloadConverter.toPayload(undefined);
    const decoded = await codec.decode([plain, binaryNull]);
    expect(decoded[0]).toBe(plain);
    expect(decoded[1]).toBe(binaryNull);
  });
});

describe('payload keyring settings', () => {
  it('parses id:base64 entries (base64 or base64url), separated by commas or lines, with comments', () => {
    const key = Buffer.alloc(32, 0xfb);
    const keys = parsePayloadKeys(`# rotated 2026-12\na:${key.toString('base64')}\n b:${key.toString('base64url')} ,c:${key.toString('base64')}`);
    expect(keys.map((k) => k.id)).toEqual(['a', 'b', 'c']);
    for (const k of keys) expect(k.key.equals(key)).toBe(true);
  });

  it.each([
    ['', /no key/],
    ['nokey', /id:base64key/],
    ['bad id!:AAAA', /id:base64key/],
    [`short:${Buffer.alloc(16).toString('base64')}`, /"short" is 16 bytes, AES-256 needs 32/],
    ['x:not*base64', /"x" is not base64/],
    [`a:${Buffer.alloc(32).toString('base64')},a:${Buffer.alloc(32).toString('base64')}`, /"a" appears twice/],
  ])('refuses %j', (spec, message) => {
    expect(() => parsePayloadKeys(spec)).toThrow(message);
  });

  it('never echoes key material in its errors', () => {
    const material = Buffer.alloc(31, 7).toString('base64');
    expect(() => parsePayloadKeys(`k:${material}`)).toThrow(/"k" is 31 bytes/);
    try {
      parsePayloadKeys(`k:${material}`);
    } catch (err) {
      expect((err as Error).message).not.toContain(material);
    }
  });

  it('refuses to run in production without a key, and takes PAYLOAD_KEYS or PAYLOAD_KEYS_FILE (not both)', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'payload-keys-'));
    const devFile = path.join(dir, 'dev-keys');
    expect(() => payloadKeysFrom({ NODE_ENV: 'production' }, devFile)).toThrow(/must be set in production/);
    expect(fs.existsSync(devFile)).toBe(false);
    const file = path.join(dir, 'keys');
    fs.writeFileSync(file, `${NEW}\n${OLD}\n`);
    expect(payloadKeysFrom({ NODE_ENV: 'production', PAYLOAD_KEYS_FILE: file }).map((k) => k.id)).toEqual(['k2026', 'k2025']);
    expect(payloadKeysFrom({ NODE_ENV: 'production', PAYLOAD_KEYS: OLD }).map((k) => k.id)).toEqual(['k2025']);
    expect(() => payloadKeysFrom({ NODE_ENV: 'production', PAYLOAD_KEYS: OLD, PAYLOAD_KEYS_FILE: file })).toThrow(/not both/);
    expect(() => payloadKeysFrom({ NODE_ENV: 'production', PAYLOAD_KEYS_FILE: path.join(dir, 'missing') })).toThrow(/cannot read/);
  });

  it('outside production generates a keyring once and keeps it (the local stack reads its histories after a restart)', () => {
    const devFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'payload-keys-')), 'data', 'payload-keys');
    const first = payloadKeysFrom({ NODE_ENV: 'development' }, devFile);
    expect(fs.statSync(devFile).mode & 0o777).toBe(0o600);
    const second = payloadKeysFrom({ NODE_ENV: 'test' }, devFile);
    expect(second).toHaveLength(1);
    expect(second[0]!.id).toBe(first[0]!.id);
    expect(second[0]!.key.equals(first[0]!.key)).toBe(true);
  });
});

describe('decodePayloadsIn (reading a fetched history)', () => {
  it('decodes every payload of a history in place, leaving plain ones and ones of unknown keys as they are', async () => {
    const codec = new EncryptionCodec(parsePayloadKeys(NEW));
    const [input, summary] = await codec.encode([defaultPayloadConverter.toPayload(SECRET_INPUT), defaultPayloadConverter.toPayload('Hold 25000 KRW')]);
    const [foreign] = await new EncryptionCodec(parsePayloadKeys(OLD)).encode([defaultPayloadConverter.toPayload('not ours')]);
    const searchAttribute = defaultPayloadConverter.toPayload('CONFIRMED');
    const history = {
      events: [
        { eventId: 1, workflowExecutionStartedEventAttributes: { input: { payloads: [input] } }, userMetadata: { summary } },
        { eventId: 2, upsertWorkflowSearchAttributesEventAttributes: { searchAttributes: { indexedFields: { OrderStatus: searchAttribute } } } },
        { eventId: 3, activityTaskCompletedEventAttributes: { result: { payloads: [foreign] } } },
      ],
    };
    await decodePayloadsIn(history, [codec]);
    const [e1, e2, e3] = history.events as any[];
    expect(defaultPayloadConverter.fromPayload(e1.workflowExecutionStartedEventAttributes.input.payloads[0])).toEqual(SECRET_INPUT);
    expect(defaultPayloadConverter.fromPayload(e1.userMetadata.summary)).toBe('Hold 25000 KRW');
    expect(e2.upsertWorkflowSearchAttributesEventAttributes.searchAttributes.indexedFields.OrderStatus).toBe(searchAttribute);
    expect(text(e3.activityTaskCompletedEventAttributes.result.payloads[0].metadata.encoding)).toBe(ENCRYPTED_ENCODING);
  });
});

describe('processes without a keyring in production', () => {
  it.each(['api/server.ts', 'workers/payment-worker.ts', 'scripts/replay.ts'])(
    '%s exits at start, before connecting to Temporal',
    async (entry) => {
      const env: NodeJS.ProcessEnv = {
        PATH: process.env.PATH,
        NODE_ENV: 'production',
        AUTH_SECRET: 'production-like-secret-0123456789-0123456789',
        PORT: '0',
        TEMPORAL_ADDRESS: '127.0.0.1:1',
        LOG_LEVEL: 'silent',
      };
      const { code, output } = await runToExit(entry, env, ['order-x']);
      expect(code).toBe(1);
      expect(output).toContain('PAYLOAD_KEYS or PAYLOAD_KEYS_FILE must be set in production');
      expect(output).not.toMatch(/listening|not reachable|replaying/);
    },
    60_000,
  );
});
