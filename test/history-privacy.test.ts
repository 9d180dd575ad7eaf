import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { defaultPayloadConverter } from '@temporalio/common';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { menuIdFor, restaurantIdFor } from '../db/seed';
import { ENCRYPTED_ENCODING } from '../lib/node/payload-codec';
import { temporalCliPath } from '../lib/node/temporal-tools';
import { CUSTOMER_ID, ORDER_ID, ORDER_SEARCH_ATTRIBUTES, ORDER_STATUS, RESTAURANT_ID } from '../lib/workflow-safe/search-attributes';
import { CURRENT_HISTORY_GENERATION, ENCRYPTED_HISTORY_DIR, maybeRecordHistory } from './support/histories';
import { placeOrder, waitForOrder } from './support/orders';
import { TEST_PAYLOAD_CODEC } from './support/payload-keys';
import { startStack, type TestStack } from './support/stack';

// Security issue #18: a Temporal history must not give away the customer's personal data to whoever
// can open the Web UI or run `temporal workflow show`. Real sagas run through the whole stack (API,
// workers, real Temporal dev server); their histories, as Temporal stores and serves them, hold
// neither the card token nor the delivery address, in plain text or in base64, while the codec
// (with the key) recovers both. Search attributes stay readable and hold no personal data.

const execFileAsync = promisify(execFile);
const AUTO = restaurantIdFor(3);
const MANUAL = restaurantIdFor(1);

/** Every way a string can sit in a JSON history: as itself, JSON-escaped, or inside base64 (any alignment). */
function encodingsOf(secret: string): string[] {
  const bytes = Buffer.from(secret, 'utf8');
  const found = [secret, JSON.stringify(secret).slice(1, -1)];
  for (let shift = 0; shift < 3; shift++) {
    // The base64 of the secret preceded by `shift` other bytes: drop the characters the prefix (and
    // the padding at the end) touch; what is left appears in any base64 text that contains the secret.
    const b64 = Buffer.concat([Buffer.alloc(shift), bytes]).toString('base64');
    const start = Math.ceil((shift * 4) / 3);
    const end = Math.floor(((shift + bytes.length) * 4) / 3);
    const core = b64.slice(start, end);
    found.push(core, core.replace(/\+/g, '-').replace(/\//g, '_'));
  }
  return found;
}

/** Every Payload object in a history JSON (as `temporal workflow show --output json` prints it), with where it is. */
function payloadsIn(value: unknown, at = '', out: Array<{ at: string; metadata: Record<string, string>; data?: string }> = []) {
  if (Array.isArray(value)) value.forEach((v) => payloadsIn(v, at, out));
  else if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if (o.metadata && typeof o.metadata === 'object' && 'encoding' in (o.metadata as object)) out.push({ at, ...(o as { metadata: Record<string, string> }) });
    else for (const [k, v] of Object.entries(o)) payloadsIn(v, `${at}.${k}`, out);
  }
  return out;
}

// Payloads that are not the workflow's data and stay readable: search attributes (by design, so
// operators can filter) and what the SDK's core writes into markers itself (the ids of patches; a
// local activity's sequence number, attempt and type, whose result is in the encrypted `result`).
const READABLE_BY_DESIGN = /(?:\.searchAttributes\.indexedFields\.\w+|\.markerRecordedEventAttributes\.details\.(?:patch-data|data)\.payloads)$/;

const fromB64 = (s: string | undefined) => Buffer.from(s ?? '', 'base64');

describe('Temporal histories hold no personal data in plain text (issue #18)', () => {
  let stack: TestStack;
  let customer: string;
  let restaurant: string;
  // Unique per run, so a hit cannot be a coincidence of the seed or of another test.
  const tag = randomUUID().slice(0, 8);
  const address = `Privacy Lane ${tag}, 서울시 강남구 테헤란로 7`;
  const cardTokens = { confirmed: `tok_ok_${tag}`, declined: 'tok_decline', flaky: 'tok_flaky_1' };
  const customerSub = `privacy-customer-${tag}`;

  beforeAll(async () => {
    stack = await startStack('privacy');
    customer = await stack.token({ role: 'customer', sub: customerSub });
    restaurant = await stack.token({ role: 'restaurant', sub: 'owner-1', restaurantId: MANUAL });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  const sagas: Array<{ name: string; workflowId: string; cardToken: string; orderId: string }> = [];

  it('runs sagas that carry a card token and an address: confirmed, declined, and a rejection after a flaky PSP', async () => {
    const confirmed = await placeOrder(stack, customer, {
      restaurantId: AUTO,
      items: [{ menuId: menuIdFor(3, 1), quantity: 1 }],
      cardToken: cardTokens.confirmed,
      deliveryAddress: address,
    });
    expect(confirmed.status).toBe(202);
    expect((await waitForOrder(stack, customer, confirmed.body.orderId, ['CONFIRMED', 'REJECTED'])).status).toBe('CONFIRMED');
    sagas.push({ name: 'happy-auto-accept', workflowId: confirmed.body.workflowId, cardToken: cardTokens.confirmed, orderId: confirmed.body.orderId });

    const declined = await placeOrder(stack, customer, {
      restaurantId: AUTO,
      items: [{ menuId: menuIdFor(3, 2), quantity: 1 }],
      cardToken: cardTokens.declined,
      deliveryAddress: address,
    });
    const declinedOrder = await waitForOrder(stack, customer, declined.body.orderId, ['CONFIRMED', 'REJECTED']);
    expect([declinedOrder.status, declinedOrder.failureReason]).toEqual(['REJECTED', 'PAYMENT_DECLINED']);
    sagas.push({ name: 'card-declined', workflowId: declined.body.workflowId, cardToken: cardTokens.declined, orderId: declined.body.orderId });

    const rejected = await placeOrder(stack, customer, {
      restaurantId: MANUAL,
      items: [{ menuId: menuIdFor(1, 1), quantity: 1 }],
      cardToken: cardTokens.flaky,
      deliveryAddress: address,
    });
    await waitForOrder(stack, customer, rejected.body.orderId, ['AWAITING_RESTAURANT']);
    const res = await fetch(`${stack.baseUrl}/restaurants/${MANUAL}/orders/${rejected.body.orderId}/reject`, {
      method: 'POST',
      headers: { authorization: `Bearer ${restaurant}`, 'content-type': 'application/json' },
      body: JSON.stringify({ reason: 'Out of rice' }),
    });
    expect(res.status).toBeLessThan(300);
    expect((await waitForOrder(stack, customer, rejected.body.orderId, ['REJECTED'])).status).toBe('REJECTED');
    sagas.push({ name: 'restaurant-rejects', workflowId: rejected.body.workflowId, cardToken: cardTokens.flaky, orderId: rejected.body.orderId });

    for (const s of sagas) {
      await stack.client.workflow.getHandle(s.workflowId).result();
      // RECORD_HISTORIES=1: keep the encrypted histories (TEST fixture key) for the replay suite.
      await maybeRecordHistory(stack.client, stack.env.address, s.name, s.workflowId, path.join(ENCRYPTED_HISTORY_DIR, CURRENT_HISTORY_GENERATION));
    }
  });

  it('`temporal workflow show` and the history API give neither the card token nor the address, in plain text or base64', async () => {
    expect(sagas).toHaveLength(3);
    for (const saga of sagas) {
      // What an operator without the key sees: the CLI (no codec) and the raw history the SDK fetches.
      const shown = execFileSync(
        temporalCliPath(),
        ['workflow', 'show', '--workflow-id', saga.workflowId, '--output', 'json', '--address', stack.env.address],
        {
          encoding: 'utf8',
        },
      );
      const fetched = historyToJSON(await stack.client.workflow.getHandle(saga.workflowId).fetchHistory());
      for (const text of [shown, fetched]) {
        // The check can see what it looks for: the order id is in the history (workflow id) in plain text.
        expect(text).toContain(saga.orderId);
        for (const secret of [saga.cardToken, address, 'Privacy Lane', '테헤란로']) {
          for (const form of encodingsOf(secret)) expect({ secret, form, found: text.includes(form) }).toEqual({ secret, form, found: false });
        }
        // Every payload of the workflow's data is encrypted, so nothing of the order (items, amounts,
        // PSP references) can be read either; the few readable ones are the SDK's and Temporal's own.
        const payloads = payloadsIn(JSON.parse(text));
        const encrypted = payloads.filter((p) => fromB64(p.metadata.encoding).toString() === ENCRYPTED_ENCODING);
        expect(encrypted.length).toBeGreaterThan(5);
        const readable = payloads.filter((p) => !encrypted.includes(p));
        expect(readable.filter((p) => !READABLE_BY_DESIGN.test(p.at.replace(/\.events\.\d+/, '')))).toEqual([]);
        for (const p of payloads) {
          const bytes = fromB64(p.data);
          for (const secret of [saga.cardToken, 'Privacy Lane', '테헤란로']) expect(bytes.includes(Buffer.from(secret))).toBe(false);
        }
      }
    }
  });

  it('with the key, the codec recovers the card token and the address from the same history', async () => {
    for (const saga of sagas) {
      const history = await stack.client.workflow.getHandle(saga.workflowId).fetchHistory();
      const started = history.events![0]!.workflowExecutionStartedEventAttributes!;
      const [input] = await TEST_PAYLOAD_CODEC.decode(started.input!.payloads!);
      const decoded = defaultPayloadConverter.fromPayload<{ deliveryAddress: string; paymentMethod: { cardToken: string } }>(input!);
      expect(decoded.deliveryAddress).toBe(address);
      expect(JSON.stringify(decoded)).toContain(saga.cardToken);
    }
  });

  it("an operator's `temporal workflow show --codec-endpoint <API>/codec --codec-auth 'Bearer <admin token>'` reads them; another role's token does not", async () => {
    const admin = await stack.token({ role: 'admin', sub: 'operator-1' });
    // Asynchronously: the codec endpoint is served by this very process.
    const show = async (token: string) =>
      (
        await execFileAsync(
          temporalCliPath(),
          [
            ...['workflow', 'show', '--workflow-id', sagas[0]!.workflowId, '--output', 'json', '--address', stack.env.address],
            ...['--codec-endpoint', `${stack.baseUrl}/codec`, '--codec-auth', `Bearer ${token}`],
          ],
          { encoding: 'utf8', timeout: 30_000 },
        )
      ).stdout;
    // `--output json` keeps payload data in base64: read what the codec gave back.
    const readable = (json: string) =>
      payloadsIn(JSON.parse(json))
        .map((p) => `${fromB64(p.metadata.encoding).toString()} ${fromB64(p.data).toString()}`)
        .join('\n');
    const decoded = readable(await show(admin));
    expect(decoded).toContain(address);
    expect(decoded).toContain(sagas[0]!.cardToken);
    expect(decoded).not.toContain(ENCRYPTED_ENCODING);
    // A customer's token is refused by the endpoint (403): the CLI retries, then fails (its deadline)
    // without showing anything.
    let refused: { failed: boolean; text: string };
    try {
      const output = await show(customer);
      refused = { failed: false, text: `${output}\n${readable(output)}` };
    } catch (err) {
      refused = { failed: true, text: String((err as { stderr?: string }).stderr ?? err) };
    }
    expect(refused.text).not.toContain(address);
    expect(refused.failed).toBe(true);
  });

  it('search attributes stay readable for operators and hold no personal data: only ids and the status', async () => {
    for (const saga of sagas) {
      const described = await stack.client.workflow.getHandle(saga.workflowId).describe();
      const attributes = described.typedSearchAttributes;
      const ours = ORDER_SEARCH_ATTRIBUTES.map((k) => k.name);
      const present = attributes.getAll().filter((p) => ours.includes(p.key.name));
      expect(present.map((p) => p.key.name).sort()).toEqual([...ours].sort());
      expect(attributes.get(ORDER_ID)).toBe(saga.orderId);
      // The account's opaque subject (the token's `sub`), never a name, address or card.
      expect(attributes.get(CUSTOMER_ID)).toBe(customerSub);
      expect(attributes.get(RESTAURANT_ID)).toMatch(/^rst_\d{4}$/);
      expect(attributes.get(ORDER_STATUS)).toMatch(/^[A-Z_]+$/);
      const all = JSON.stringify(attributes.getAll().map((p) => p.value));
      for (const secret of [saga.cardToken, address, 'Privacy Lane', '테헤란로']) expect(all).not.toContain(secret);
    }
  });
});
