import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createPspClient, PspRejectedError, PspUnavailableError, type PspClient } from '../activities/psp-client';
import { createPspSandbox, type PspSandbox } from '../psp/sandbox';

// The PSP sandbox on its own (no Temporal, no Postgres): books that survive a restart, the
// settlement report, card-token validation, and faults that act before they lie.

interface Running {
  psp: PspSandbox;
  url: string;
  client: PspClient;
  stop(): Promise<void>;
}

async function start(dataFile?: string): Promise<Running> {
  const psp = createPspSandbox({ dataFile });
  const server: Server = await new Promise((resolve) => {
    const s = psp.app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    psp,
    url,
    client: createPspClient({ baseUrl: url, timeoutMs: 2000 }),
    async stop() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

const key = (reference: string, op: string) => `${reference}:${op}`;

async function http(baseUrl: string, method: string, path: string, opts: { body?: unknown; headers?: Record<string, string> } = {}) {
  const res = await fetch(`${baseUrl}${path}`, {
    method,
    headers: { ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}), ...opts.headers },
    body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined,
  });
  return { status: res.status, body: (await res.json()) as any };
}

async function eventually(fn: () => boolean, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`condition not met in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('PSP sandbox', () => {
  let dir: string;
  const running: Running[] = [];
  const open = async (dataFile?: string) => {
    const r = await start(dataFile);
    running.push(r);
    return r;
  };
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'psp-sandbox-'));
  });
  afterEach(async () => {
    await Promise.all(running.splice(0).map((r) => r.stop()));
  });
  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('keeps its books across a restart: authorizations, replies by idempotency key, the report', async () => {
    const file = path.join(dir, 'books', 'psp.jsonl');
    const first = await open(file);
    const c = first.client;
    await c.authorize({ reference: 'pay_a', orderReference: 'ord_a', amount: 12000, cardToken: 'tok_ok', idempotencyKey: key('pay_a', 'authorize') });
    await c.capture({ reference: 'pay_a', amount: 12000, idempotencyKey: key('pay_a', 'capture') });
    await c.authorize({ reference: 'pay_b', amount: 5000, cardToken: 'tok_decline', idempotencyKey: key('pay_b', 'authorize') });
    await c.void({ reference: 'pay_c', idempotencyKey: key('pay_c', 'void') }); // a tombstone: nothing was held
    await expect(c.refund({ reference: 'pay_zz', amount: 1, idempotencyKey: key('pay_zz', 'refund') })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    const report = (await http(first.url, 'GET', '/v1/reports/operations')).body;
    expect(report.operations.map((o: { operation: string }) => o.operation)).toEqual(['authorize', 'capture', 'authorize', 'void']);
    await first.stop();
    running.length = 0;

    const second = await open(file);
    expect([...second.psp.authorizations.keys()].sort()).toEqual(['pay_a', 'pay_b', 'pay_c']);
    expect(await second.client.lookup('pay_a')).toEqual({
      reference: 'pay_a',
      status: 'CAPTURED',
      amount: 12000,
      capturedAmount: 12000,
      orderReference: 'ord_a',
    });
    // The same key answers as before, without acting again; another body under it is refused.
    const replayed = await http(second.url, 'POST', '/v1/authorizations', {
      headers: { 'idempotency-key': key('pay_a', 'authorize') },
      body: { reference: 'pay_a', amount: 12000, cardToken: 'tok_ok', orderReference: 'ord_a' },
    });
    expect(replayed).toMatchObject({ status: 201, body: { reference: 'pay_a', status: 'AUTHORIZED' } });
    await expect(second.client.refund({ reference: 'pay_zz', amount: 1, idempotencyKey: key('pay_zz', 'refund') })).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    const reused = await http(second.url, 'POST', '/v1/authorizations/pay_a/capture', {
      headers: { 'idempotency-key': key('pay_a', 'capture') },
      body: { amount: 11000 },
    });
    expect(reused).toMatchObject({ status: 422, body: { error: { code: 'IDEMPOTENCY_KEY_REUSED' } } });
    // The void tombstone still blocks a late authorize.
    expect((await second.client.authorize({ reference: 'pay_c', amount: 700, cardToken: 'tok_ok', idempotencyKey: key('pay_c', 'authorize') })).status).toBe(
      'VOIDED',
    );
    expect(second.psp.stats.effects).toEqual({});
    expect((await http(second.url, 'GET', '/v1/reports/operations')).body).toEqual(report);

    // New operations continue the log, and a third instance sees them too.
    await second.client.refund({ reference: 'pay_a', amount: 12000, idempotencyKey: key('pay_a', 'refund') });
    await second.stop();
    running.length = 0;
    const third = await open(file);
    expect(third.psp.operations.map((o) => [o.seq, o.operation, o.reference])).toEqual([
      [1, 'authorize', 'pay_a'],
      [2, 'capture', 'pay_a'],
      [3, 'authorize', 'pay_b'],
      [4, 'void', 'pay_c'],
      [5, 'refund', 'pay_a'],
    ]);
    expect(third.psp.authorizations.get('pay_a')?.status).toBe('REFUNDED');
  });

  it('drops a journal line cut short by a crash (never answered) and starts on the rest', async () => {
    const file = path.join(dir, 'torn.jsonl');
    const first = await open(file);
    await first.client.authorize({ reference: 'pay_t', amount: 100, cardToken: 'tok_ok', idempotencyKey: key('pay_t', 'authorize') });
    await first.stop();
    running.length = 0;
    fs.appendFileSync(file, '{"key":"pay_u:authorize","reply":{"sta');
    const second = await open(file);
    expect([...second.psp.authorizations.keys()]).toEqual(['pay_t']);
    await second.client.authorize({ reference: 'pay_u', amount: 100, cardToken: 'tok_ok', idempotencyKey: key('pay_u', 'authorize') });
    await second.stop();
    running.length = 0;
    expect([...(await open(file)).psp.authorizations.keys()]).toEqual(['pay_t', 'pay_u']);
  });

  it('reports every change to its books in order, paged by seq; replays and refusals are not changes', async () => {
    const { url, client } = await open();
    for (const ref of ['pay_1', 'pay_2', 'pay_3']) {
      await client.authorize({
        reference: ref,
        orderReference: `ord_${ref.slice(4)}`,
        amount: 1000,
        cardToken: 'tok_ok',
        idempotencyKey: key(ref, 'authorize'),
      });
    }
    await client.capture({ reference: 'pay_1', amount: 600, idempotencyKey: key('pay_1', 'capture') }); // a partial capture
    await client.capture({ reference: 'pay_1', amount: 600, idempotencyKey: 'again' }); // already captured: no change
    await client.void({ reference: 'pay_2', idempotencyKey: key('pay_2', 'void') });
    await expect(client.capture({ reference: 'pay_2', amount: 1000, idempotencyKey: key('pay_2', 'capture') })).rejects.toMatchObject({
      code: 'NOT_CAPTURABLE',
    });
    await expect(client.capture({ reference: 'pay_3', amount: 1001, idempotencyKey: key('pay_3', 'capture') })).rejects.toMatchObject({
      code: 'AMOUNT_EXCEEDS_AUTHORIZATION',
    });
    await client.capture({ reference: 'pay_3', amount: 1000, idempotencyKey: key('pay_3', 'capture:2') });
    await client.refund({ reference: 'pay_1', amount: 1000, idempotencyKey: key('pay_1', 'refund') });
    await client.void({ reference: 'pay_4', idempotencyKey: key('pay_4', 'void') });

    const page = async (q: string) => (await http(url, 'GET', `/v1/reports/operations${q}`)).body;
    const p1 = await page('?limit=3');
    expect(p1.operations.map((o: { seq: number }) => o.seq)).toEqual([1, 2, 3]);
    expect(p1.nextAfter).toBe(3);
    const p2 = await page(`?after=${p1.nextAfter}&limit=3`);
    expect(p2.operations.map((o: { seq: number }) => o.seq)).toEqual([4, 5, 6]);
    const p3 = await page(`?after=${p2.nextAfter}&limit=3`);
    expect(p3).toMatchObject({ nextAfter: null });
    const all = [...p1.operations, ...p2.operations, ...p3.operations];
    expect(all.map((o) => [o.operation, o.reference, o.orderReference, o.amount, o.idempotencyKey, o.resultingStatus])).toEqual([
      ['authorize', 'pay_1', 'ord_1', 1000, 'pay_1:authorize', 'AUTHORIZED'],
      ['authorize', 'pay_2', 'ord_2', 1000, 'pay_2:authorize', 'AUTHORIZED'],
      ['authorize', 'pay_3', 'ord_3', 1000, 'pay_3:authorize', 'AUTHORIZED'],
      ['capture', 'pay_1', 'ord_1', 600, 'pay_1:capture', 'CAPTURED'],
      ['void', 'pay_2', 'ord_2', 1000, 'pay_2:void', 'VOIDED'],
      ['capture', 'pay_3', 'ord_3', 1000, 'pay_3:capture:2', 'CAPTURED'],
      ['refund', 'pay_1', 'ord_1', 600, 'pay_1:refund', 'REFUNDED'],
      ['void', 'pay_4', null, 0, 'pay_4:void', 'VOIDED'],
    ]);
    expect(all.every((o) => !Number.isNaN(Date.parse(o.at)))).toBe(true);
    expect(await page('')).toEqual({ operations: all, nextAfter: null });
    expect(await page('?after=8')).toEqual({ operations: [], nextAfter: null });
    expect((await page('?limit=8')).nextAfter).toBeNull();
    for (const q of ['?limit=0', '?limit=5001', '?after=-1', '?after=x', '?limit=2.5']) {
      expect(await http(url, 'GET', `/v1/reports/operations${q}`)).toMatchObject({ status: 400, body: { error: { code: 'VALIDATION_FAILED' } } });
    }
    expect((await http(url, 'GET', '/v1/reports/operations?limit=5000')).status).toBe(200);
    expect(await client.lookup('pay_3')).toMatchObject({ status: 'CAPTURED', amount: 1000, orderReference: 'ord_3' });
  });

  it('narrows the report to one payment (reference) or one merchant order (orderReference), still paged by seq', async () => {
    const { url, client } = await open();
    await client.authorize({ reference: 'pay_a', orderReference: 'ord_a', amount: 1000, cardToken: 'tok_ok', idempotencyKey: key('pay_a', 'authorize') });
    await client.authorize({ reference: 'pay_b', orderReference: 'ord_b', amount: 2000, cardToken: 'tok_ok', idempotencyKey: key('pay_b', 'authorize') });
    // A second charge for ord_a under another reference: only orderReference finds both.
    await client.authorize({ reference: 'pay_a2', orderReference: 'ord_a', amount: 1000, cardToken: 'tok_ok', idempotencyKey: key('pay_a2', 'authorize') });
    await client.capture({ reference: 'pay_a', amount: 1000, idempotencyKey: key('pay_a', 'capture') });
    await client.void({ reference: 'pay_c', idempotencyKey: key('pay_c', 'void') }); // a tombstone names no order
    const page = async (q: string) => (await http(url, 'GET', `/v1/reports/operations${q}`)).body;
    const lines = (body: { operations: Array<{ seq: number; operation: string; reference: string }> }) =>
      body.operations.map((o) => [o.seq, o.operation, o.reference]);
    expect(lines(await page('?reference=pay_a'))).toEqual([
      [1, 'authorize', 'pay_a'],
      [4, 'capture', 'pay_a'],
    ]);
    expect(lines(await page('?orderReference=ord_a'))).toEqual([
      [1, 'authorize', 'pay_a'],
      [3, 'authorize', 'pay_a2'],
      [4, 'capture', 'pay_a'],
    ]);
    expect(await page('?orderReference=ord_a&limit=2')).toMatchObject({ nextAfter: 3 });
    expect(lines(await page('?orderReference=ord_a&after=3'))).toEqual([[4, 'capture', 'pay_a']]);
    expect(lines(await page('?reference=pay_c'))).toEqual([[5, 'void', 'pay_c']]);
    expect(await page('?reference=pay_none')).toEqual({ operations: [], nextAfter: null });
    for (const q of ['?reference=', `?orderReference=${'x'.repeat(201)}`, '?reference=a&reference=b']) {
      expect(await http(url, 'GET', `/v1/reports/operations${q}`)).toMatchObject({ status: 400, body: { error: { code: 'VALIDATION_FAILED' } } });
    }
  });

  it('refuses a card token that is not a token: 400 INVALID_CARD_TOKEN, nothing recorded', async () => {
    const { psp, url, client } = await open();
    for (const cardToken of ['4111111111111111', 'tok_', 'tok_ok; DROP', 'TOK_OK', '']) {
      const res = await http(url, 'POST', '/v1/authorizations', {
        headers: { 'idempotency-key': `k-${cardToken}` },
        body: { reference: 'pay_bad', amount: 1000, cardToken },
      });
      expect({ cardToken, status: res.status, code: res.body.error.code }).toEqual({ cardToken, status: 400, code: 'INVALID_CARD_TOKEN' });
    }
    const err = await client
      .authorize({ reference: 'pay_bad', amount: 1000, cardToken: '4111-1111', idempotencyKey: 'pay_bad:authorize' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PspRejectedError);
    expect(err).toMatchObject({ code: 'INVALID_CARD_TOKEN' });
    expect(psp.authorizations.size).toBe(0);
    expect(psp.operations).toHaveLength(0);
    // The same key with a real token then authorizes: the refusal was not stored under it.
    expect((await client.authorize({ reference: 'pay_bad', amount: 1000, cardToken: 'tok_ok', idempotencyKey: 'pay_bad:authorize' })).status).toBe(
      'AUTHORIZED',
    );
    expect(
      await http(url, 'POST', '/v1/authorizations', {
        headers: { 'idempotency-key': 'x' },
        body: { reference: 'pay_x', amount: 1, cardToken: 'tok_ok', orderReference: 7 },
      }),
    ).toMatchObject({ status: 400 });
  });

  it('rejectAfterProcessRate: acts, then answers 409 CONFLICT; a retry with the key gets the real answer', async () => {
    const { psp, url, client } = await open();
    await client.authorize({ reference: 'pay_r', orderReference: 'ord_r', amount: 3000, cardToken: 'tok_ok', idempotencyKey: key('pay_r', 'authorize') });
    expect((await http(url, 'POST', '/_sandbox/faults', { body: { rejectAfterProcessRate: 1 } })).body).toMatchObject({ rejectAfterProcessRate: 1 });
    const err = await client.capture({ reference: 'pay_r', amount: 3000, idempotencyKey: key('pay_r', 'capture') }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PspRejectedError);
    expect(err).toMatchObject({ code: 'CONFLICT' });
    expect(psp.authorizations.get('pay_r')?.status).toBe('CAPTURED');
    expect(psp.operations.map((o) => o.operation)).toEqual(['authorize', 'capture']);
    psp.setFaults({ rejectAfterProcessRate: 0 });
    expect(await client.capture({ reference: 'pay_r', amount: 3000, idempotencyKey: key('pay_r', 'capture') })).toMatchObject({ status: 'CAPTURED' });
    expect(psp.stats.effects.capture).toBe(1);
    expect(psp.operations).toHaveLength(2);
  });

  it('a delay longer than the client timeout: the client gives up, the PSP still acts, once', async () => {
    const { psp, client } = await open();
    psp.setFaults({ delayMs: 1500 });
    const req = { reference: 'pay_s', orderReference: 'ord_s', amount: 4000, cardToken: 'tok_ok', idempotencyKey: key('pay_s', 'authorize') };
    const started = Date.now();
    await expect(client.authorize(req, { timeoutMs: 200 })).rejects.toBeInstanceOf(PspUnavailableError);
    expect(Date.now() - started).toBeLessThan(1000);
    // The delay comes before acting: nothing yet when the client gave up.
    expect(psp.authorizations.has('pay_s')).toBe(false);
    await eventually(() => psp.authorizations.get('pay_s')?.status === 'AUTHORIZED', 5000);
    // Lookups are slow too while the PSP is.
    await expect(client.lookup('pay_s', { timeoutMs: 200 })).rejects.toBeInstanceOf(PspUnavailableError);
    psp.setFaults({ delayMs: 0 });
    expect(await client.lookup('pay_s')).toMatchObject({ status: 'AUTHORIZED', amount: 4000 });
    expect(await client.authorize(req)).toMatchObject({ reference: 'pay_s', status: 'AUTHORIZED' });
    expect(psp.operations).toHaveLength(1);
    expect(psp.stats).toMatchObject({ effects: { authorize: 1 }, calls: { authorize: 2 } });
  });

  it('a delayed operation acts on the books as they are when it acts, not as they were when it arrived', async () => {
    const { psp, client } = await open();
    await client.authorize({ reference: 'pay_d', amount: 2000, cardToken: 'tok_ok', idempotencyKey: key('pay_d', 'authorize') });
    psp.setFaults({ delayMs: 400 });
    const slowCapture = client.capture({ reference: 'pay_d', amount: 2000, idempotencyKey: key('pay_d', 'capture') }).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 50));
    psp.setFaults({ delayMs: 0 });
    expect(await client.void({ reference: 'pay_d', idempotencyKey: key('pay_d', 'void') })).toMatchObject({ status: 'VOIDED' });
    expect(await slowCapture).toMatchObject({ code: 'NOT_CAPTURABLE' });
    expect(psp.authorizations.get('pay_d')?.status).toBe('VOIDED');
    expect(psp.operations.map((o) => o.operation)).toEqual(['authorize', 'void']);
  });

  it('timeoutAfterProcessRate: acts, then drops the connection', async () => {
    const { psp, client } = await open();
    psp.setFaults({ timeoutAfterProcessRate: 1 });
    await expect(client.void({ reference: 'pay_v', idempotencyKey: key('pay_v', 'void') })).rejects.toBeInstanceOf(PspUnavailableError);
    expect(psp.authorizations.get('pay_v')?.status).toBe('VOIDED');
  });

  it('caps the delay fault', async () => {
    const { url } = await open();
    expect((await http(url, 'POST', '/_sandbox/faults', { body: { delayMs: 10_000_000 } })).body.delayMs).toBe(120_000);
    expect((await http(url, 'POST', '/_sandbox/faults', { body: { delayMs: 0, failRate: 2 } })).body).toEqual({
      delayMs: 0,
      failRate: 0,
      timeoutAfterProcessRate: 0,
      rejectAfterProcessRate: 0,
    });
  });
});
