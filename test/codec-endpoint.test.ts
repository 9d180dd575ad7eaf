import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import type { Client } from '@temporalio/client';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { createApp } from '../api/app';
import { NO_RATE_LIMIT } from '../api/security';
import type { Db } from '../db/knex';
import { mintToken } from '../lib/node/auth';
import { codecCorsOrigins, loadConfig } from '../lib/node/config';
import { createLogger } from '../lib/node/logger';
import { createRegistry } from '../lib/node/metrics';
import { EncryptionCodec, ENCRYPTED_ENCODING, generatePayloadKey, KEY_ID_METADATA, parsePayloadKeys } from '../lib/node/payload-codec';
import { TEST_PAYLOAD_CODEC } from './support/payload-keys';

// The codec endpoint (api/routes/codec.ts) on its own: Temporal's remote codec protocol for the Web
// UI and the CLI, for admins only, from the Web UI's origin only. No database or Temporal is needed.

const SECRET = 'codec-test-secret-0123456789-0123456789';
const UI = 'http://127.0.0.1:8233';
const down = {} as Db;

const JSON_TYPE = { 'content-type': 'application/json' };
const b64 = (b: Uint8Array | null | undefined) => Buffer.from(b ?? new Uint8Array()).toString('base64');
const toJson = (p: Payload) => ({ metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, b64(v)])), data: b64(p.data) });
const fromJson = (p: { metadata: Record<string, string>; data: string }): Payload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata).map(([k, v]) => [k, new Uint8Array(Buffer.from(v, 'base64'))])),
  data: new Uint8Array(Buffer.from(p.data, 'base64')),
});

describe('codec endpoint: /codec/decode and /codec/encode', () => {
  let server: Server;
  let base: string;
  let admin: string;
  let customer: string;
  let restaurant: string;
  const input = { deliveryAddress: '서울시 강남구 테헤란로 1', paymentMethod: { cardToken: 'tok_codec_endpoint' } };
  const plain = defaultPayloadConverter.toPayload(input);

  beforeAll(async () => {
    const app = createApp({
      ordersDb: down,
      restaurantsDb: down,
      menuReadDb: down,
      temporal: {} as Client,
      logger: createLogger('codec-test', 'silent'),
      registry: createRegistry('api'),
      authSecret: SECRET,
      taskQueuePrefix: 'codec-',
      acceptanceWindowSeconds: 300,
      temporalUiUrl: `${UI}/namespaces/default`,
      namespace: 'default',
      payloadCodec: TEST_PAYLOAD_CODEC,
      rateLimit: NO_RATE_LIMIT,
    });
    server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    admin = await mintToken({ role: 'admin', sub: 'op-1' }, SECRET, 600);
    customer = await mintToken({ role: 'customer', sub: 'cust-1' }, SECRET, 600);
    restaurant = await mintToken({ role: 'restaurant', sub: 'owner-1', restaurantId: 'rst_0001' }, SECRET, 600);
  });
  afterAll(() => new Promise((resolve) => server.close(resolve)));

  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${base}${path}`, { method: 'POST', headers: { ...JSON_TYPE, ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

  it('answers 401 without a token and 403 to customers and restaurants, in the documented error shape', async () => {
    const [encrypted] = await TEST_PAYLOAD_CODEC.encode([plain]);
    const body = { payloads: [toJson(encrypted!)] };
    for (const path of ['/codec/decode', '/codec/encode']) {
      const anonymous = await post(path, body);
      expect(anonymous.status).toBe(401);
      expect(((await anonymous.json()) as any).error.code).toBe('UNAUTHENTICATED');
      for (const token of [customer, restaurant]) {
        const refused = await post(path, body, bearer(token));
        expect(refused.status).toBe(403);
        const text = await refused.text();
        expect(JSON.parse(text).error.code).toBe('FORBIDDEN');
        expect(text).not.toContain(Buffer.from('tok_codec_endpoint').toString('base64').slice(0, 12));
      }
    }
  });

  it('decodes for an admin what the workers encrypted; unencrypted payloads come back unchanged', async () => {
    const [encrypted] = await TEST_PAYLOAD_CODEC.encode([plain]);
    const res = await post('/codec/decode', { payloads: [toJson(encrypted!), toJson(plain)] }, { ...bearer(admin), 'x-namespace': 'default' });
    expect(res.status).toBe(200);
    const { payloads } = (await res.json()) as { payloads: Array<{ metadata: Record<string, string>; data: string }> };
    expect(payloads).toHaveLength(2);
    expect(defaultPayloadConverter.fromPayload(fromJson(payloads[0]!))).toEqual(input);
    expect(payloads[1]).toEqual(toJson(plain));
  });

  it('round-trips: encode encrypts with the current key, decode gives the payloads back', async () => {
    const encoded = await post('/codec/encode', { payloads: [toJson(plain)] }, bearer(admin));
    expect(encoded.status).toBe(200);
    const { payloads } = (await encoded.json()) as { payloads: Array<{ metadata: Record<string, string>; data: string }> };
    expect(Buffer.from(payloads[0]!.metadata.encoding!, 'base64').toString()).toBe(ENCRYPTED_ENCODING);
    expect(Buffer.from(payloads[0]!.metadata[KEY_ID_METADATA]!, 'base64').toString()).toBe(TEST_PAYLOAD_CODEC.keyId);
    expect(Buffer.from(payloads[0]!.data, 'base64').includes(Buffer.from('tok_codec_endpoint'))).toBe(false);
    // The workers' codec reads what the endpoint wrote, and the endpoint reads it back.
    expect(defaultPayloadConverter.fromPayload((await TEST_PAYLOAD_CODEC.decode([fromJson(payloads[0]!)]))[0]!)).toEqual(input);
    const decoded = await post('/codec/decode', { payloads }, bearer(admin));
    expect(((await decoded.json()) as any).payloads).toEqual([toJson(plain)]);
  });

  it('takes a history-sized body (above the API-wide 32 KB)', async () => {
    const big = defaultPayloadConverter.toPayload({ lines: 'x'.repeat(200_000) });
    const encrypted = await TEST_PAYLOAD_CODEC.encode([big, big]);
    const res = await post('/codec/decode', { payloads: encrypted.map(toJson) }, bearer(admin));
    expect(res.status).toBe(200);
  });

  it('refuses a payload of an unknown key (422), bad base64 or unknown fields (400), a non-JSON body (415)', async () => {
    const [foreign] = await new EncryptionCodec(parsePayloadKeys(generatePayloadKey('someone-else'))).encode([plain]);
    const unknown = await post('/codec/decode', { payloads: [toJson(foreign!)] }, bearer(admin));
    expect(unknown.status).toBe(422);
    expect(((await unknown.json()) as any).error).toMatchObject({ code: 'PAYLOAD_NOT_DECRYPTABLE', message: expect.stringContaining('someone-else') });
    const badBase64 = await post('/codec/decode', { payloads: [{ metadata: { encoding: '@@@' }, data: '' }] }, bearer(admin));
    expect(badBase64.status).toBe(400);
    expect(((await badBase64.json()) as any).error.code).toBe('VALIDATION_FAILED');
    expect((await post('/codec/decode', { payloads: [], extra: 1 }, bearer(admin))).status).toBe(400);
    expect((await post('/codec/decode', { payloads: 'x' }, bearer(admin))).status).toBe(400);
    const text = await fetch(`${base}/codec/decode`, { method: 'POST', headers: { 'content-type': 'text/plain', ...bearer(admin) }, body: '{"payloads":[]}' });
    expect(text.status).toBe(415);
  });
});

describe('codec endpoint: CORS for the Web UI only, and its cookie', () => {
  let server: Server;
  let base: string;
  let admin: string;
  let customer: string;

  beforeAll(async () => {
    const app = createApp({
      ordersDb: down,
      restaurantsDb: down,
      menuReadDb: down,
      temporal: {} as Client,
      logger: createLogger('codec-test', 'silent'),
      registry: createRegistry('api'),
      authSecret: SECRET,
      taskQueuePrefix: 'codec-',
      acceptanceWindowSeconds: 300,
      temporalUiUrl: UI,
      namespace: 'default',
      payloadCodec: TEST_PAYLOAD_CODEC,
      codecCorsOrigins: [UI, 'http://localhost:8233'],
      rateLimit: NO_RATE_LIMIT,
    });
    server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    admin = await mintToken({ role: 'admin', sub: 'op-1' }, SECRET, 600);
    customer = await mintToken({ role: 'customer', sub: 'cust-1' }, SECRET, 600);
  });
  afterAll(() => new Promise((resolve) => server.close(resolve)));

  const preflight = (origin: string) =>
    fetch(`${base}/codec/decode`, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,x-namespace,authorization' },
    });

  it("answers the Web UI's preflight, with credentials and the headers the UI sends", async () => {
    for (const origin of [UI, 'http://localhost:8233']) {
      const res = await preflight(origin);
      expect(res.status).toBe(204);
      expect(res.headers.get('access-control-allow-origin')).toBe(origin);
      expect(res.headers.get('access-control-allow-credentials')).toBe('true');
      expect(res.headers.get('access-control-allow-methods')).toBe('POST');
      expect(res.headers.get('access-control-allow-headers')?.toLowerCase().split(/, */)).toEqual(
        expect.arrayContaining(['authorization', 'content-type', 'x-namespace']),
      );
      expect(res.headers.get('vary')).toMatch(/Origin/);
    }
  });

  it('refuses any other origin (no CORS header, 403 in the error shape), also with an admin token', async () => {
    for (const origin of ['http://evil.example', 'http://127.0.0.1:3000', 'http://127.0.0.1:8234', 'null']) {
      const pre = await preflight(origin);
      expect(pre.status).toBe(403);
      expect(pre.headers.get('access-control-allow-origin')).toBeNull();
      const res = await fetch(`${base}/codec/decode`, {
        method: 'POST',
        headers: { ...JSON_TYPE, origin, authorization: `Bearer ${admin}` },
        body: JSON.stringify({ payloads: [] }),
      });
      expect(res.status).toBe(403);
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
      expect(((await res.json()) as any).error.code).toBe('FORBIDDEN');
    }
    // Other routes answer no CORS at all.
    const orders = await fetch(`${base}/healthz`, { headers: { origin: UI } });
    expect(orders.headers.get('access-control-allow-origin')).toBeNull();
  });

  it("answers the Web UI's request with its origin; the CLI (no Origin) gets no CORS header", async () => {
    const fromUi = await fetch(`${base}/codec/decode`, {
      method: 'POST',
      headers: { ...JSON_TYPE, origin: UI, authorization: `Bearer ${admin}` },
      body: JSON.stringify({ payloads: [] }),
    });
    expect(fromUi.status).toBe(200);
    expect(fromUi.headers.get('access-control-allow-origin')).toBe(UI);
    // A refusal reaches the UI readable too, so it can say why.
    const anonymous = await fetch(`${base}/codec/decode`, { method: 'POST', headers: { ...JSON_TYPE, origin: UI }, body: JSON.stringify({ payloads: [] }) });
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('access-control-allow-origin')).toBe(UI);
    const cli = await fetch(`${base}/codec/decode`, { method: 'POST', headers: { ...JSON_TYPE, authorization: `Bearer ${admin}` }, body: '{"payloads":[]}' });
    expect(cli.status).toBe(200);
    expect(cli.headers.get('access-control-allow-origin')).toBeNull();
  });

  it("keeps an admin's token in an HttpOnly cookie for /codec/ only, which then authenticates the Web UI's requests", async () => {
    const session = await fetch(`${base}/codec/session`, { method: 'POST', headers: { authorization: `Bearer ${admin}` } });
    expect(session.status).toBe(204);
    const cookie = session.headers.get('set-cookie')!;
    expect(cookie).toMatch(/^codec_session=[\w.-]+; Path=\/codec; HttpOnly; SameSite=Strict; Max-Age=(\d+)$/);
    expect(Number(/Max-Age=(\d+)/.exec(cookie)![1])).toBeLessThanOrEqual(600);
    const value = cookie.split(';')[0]!;
    const [encrypted] = await TEST_PAYLOAD_CODEC.encode([defaultPayloadConverter.toPayload('hello')]);
    const withCookie = await fetch(`${base}/codec/decode`, {
      method: 'POST',
      headers: { ...JSON_TYPE, origin: UI, cookie: value },
      body: JSON.stringify({ payloads: [toJson(encrypted!)] }),
    });
    expect(withCookie.status).toBe(200);
    expect(defaultPayloadConverter.fromPayload(fromJson(((await withCookie.json()) as any).payloads[0]))).toBe('hello');

    // Set from the API's own pages only: the Web UI's origin (or any other) may not.
    for (const origin of [UI, 'http://evil.example']) {
      const crossOrigin = await fetch(`${base}/codec/session`, { method: 'POST', headers: { origin, authorization: `Bearer ${admin}` } });
      expect(crossOrigin.status).toBe(403);
      expect(crossOrigin.headers.get('set-cookie')).toBeNull();
      expect(crossOrigin.headers.get('access-control-allow-origin')).toBeNull();
    }
    expect((await fetch(`${base}/codec/session`, { method: 'POST', headers: { origin: base, authorization: `Bearer ${admin}` } })).status).toBe(204);
    // Only admins get one; a customer's token in the cookie is refused; a forged one is a 401.
    expect((await fetch(`${base}/codec/session`, { method: 'POST', headers: { authorization: `Bearer ${customer}` } })).status).toBe(403);
    expect((await fetch(`${base}/codec/session`, { method: 'POST', headers: { cookie: value } })).status).toBe(401);
    const asCustomer = await fetch(`${base}/codec/decode`, {
      method: 'POST',
      headers: { ...JSON_TYPE, cookie: `codec_session=${customer}` },
      body: '{"payloads":[]}',
    });
    expect(asCustomer.status).toBe(403);
    const forged = await fetch(`${base}/codec/decode`, {
      method: 'POST',
      headers: { ...JSON_TYPE, cookie: `codec_session=${admin}x` },
      body: '{"payloads":[]}',
    });
    expect(forged.status).toBe(401);
    // The cookie is for the codec: it opens no other route.
    const desk = await fetch(`${base}/admin/orders`, { headers: { cookie: value } });
    expect(desk.status).toBe(401);
  });
});

describe('CODEC_CORS_ORIGINS', () => {
  const secret = { AUTH_SECRET: SECRET };
  it("defaults to the Web UI's origin (TEMPORAL_UI_URL) and takes a comma-separated list of origins", () => {
    expect(codecCorsOrigins(loadConfig(secret))).toEqual(['http://127.0.0.1:8233']);
    expect(codecCorsOrigins(loadConfig({ ...secret, TEMPORAL_UI_URL: 'https://temporal.example.com/namespaces/default' }))).toEqual([
      'https://temporal.example.com',
    ]);
    expect(codecCorsOrigins(loadConfig({ ...secret, CODEC_CORS_ORIGINS: 'http://localhost:8080, https://ui.example.com/' }))).toEqual([
      'http://localhost:8080',
      'https://ui.example.com',
    ]);
    expect(() => codecCorsOrigins(loadConfig({ ...secret, CODEC_CORS_ORIGINS: 'not a url' }))).toThrow();
  });
});
