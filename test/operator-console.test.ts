// The operator's desk page end to end: headless Chromium (Debian's package, driven by playwright-core)
// against the real stack of startStack, the page served by the same API app at /console/operator/.
// Screenshots go to test-results/screenshots/ (docs/screenshots/operator-desk.png is one of them).
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { menuIdFor, restaurantIdFor } from '../db/seed';
import { ensureConsoleBuilt, launchBrowser, openPage, SCREENSHOT_DIR, screenshot, type ConsolePage } from './support/browser';
import { placeOrder, rowsOf, waitForOrder } from './support/orders';
import { startStack, type TestStack } from './support/stack';
import { TEST_PAYLOAD_CODEC } from './support/payload-keys';
import { defaultPayloadConverter } from '@temporalio/common';

const MANUAL = restaurantIdFor(1); // waits for the restaurant's decision
const AUTO = restaurantIdFor(3); // auto-accepts

jest.setTimeout(180_000);

describe("the operator's desk in a real browser", () => {
  let stack: TestStack;
  let browser: Browser;
  let desk: ConsolePage;
  let adminToken: string;
  let customerToken: string;

  beforeAll(async () => {
    ensureConsoleBuilt();
    browser = await launchBrowser();
    stack = await startStack('opdesk');
    adminToken = await stack.token({ role: 'admin', sub: 'ops-1' });
    customerToken = await stack.token({ role: 'customer', sub: 'customer-7' });
    desk = await openPage(browser);
  });

  afterAll(async () => {
    await browser?.close();
    await stack?.stop();
  });

  afterEach(() => {
    // No uncaught errors and no Content-Security-Policy refusals.
    expect(desk.problems).toEqual([]);
  });

  const order = async (restaurantId: string, menu: number, status: string) => {
    const placed = await placeOrder(stack, customerToken, { restaurantId, items: [{ menuId: menuIdFor(Number(restaurantId.slice(4)), menu), quantity: 1 }] });
    await waitForOrder(stack, customerToken, placed.body.orderId, [status]);
    return placed.body.orderId as string;
  };
  const row = (page: Page, source: string, kind: string) => page.locator(`tr[data-source="${source}"][data-kind="${kind}"]`);

  it('refuses a token that is not an admin token', async () => {
    const { page, problems } = await openPage(browser);
    await page.goto(`${stack.baseUrl}/console/operator/`);
    await page.getByLabel('Admin token').fill(customerToken);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').getByText('This is a customer token; this page needs a admin token.').waitFor();
    expect(problems).toEqual([]);
    await page.context().close();
  });

  it("finds a customer's orders and shows an order's story from every source", async () => {
    const confirmed = await order(AUTO, 1, 'CONFIRMED');
    const page = desk.page;
    await page.goto(`${stack.baseUrl}/console/operator/`);
    await page.getByLabel('Admin token').fill(adminToken);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('button', { name: 'Sign out' }).waitFor();

    await page.getByLabel('Search by').selectOption('customerId');
    await page.getByLabel('Value').fill('customer-7');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    const found = page.locator(`[data-list="search-results"] li[data-order-id="${confirmed}"]`);
    await found.waitFor();
    await found.getByRole('button').click();
    await page.waitForURL(new RegExp(`#/o/${confirmed}$`));
    await page.locator('[data-story-status="CONFIRMED"]').waitFor();
    for (const [source, kind] of [
      ['order', 'CONFIRMED'],
      ['payment', 'CAPTURE'],
      ['psp', 'capture'],
      ['ticket', 'ACCEPTED'],
      ['saga', 'WorkflowExecutionCompleted'],
    ]) {
      await row(page, source!, kind!).first().waitFor();
    }
    await page.getByRole('link', { name: /Open in Temporal \(COMPLETED\)/ }).waitFor();
    await screenshot(page, 'operator-story-confirmed');
  });

  it('lets the Web UI in this browser decrypt payloads: the admin token goes into an HttpOnly cookie that only /codec/ receives', async () => {
    const page = desk.page;
    await page.goto(`${stack.baseUrl}/console/operator/`);
    await page.getByRole('button', { name: 'Let the Web UI decrypt' }).click();
    await page.getByText('Include cross-origin credentials', { exact: false }).waitFor();
    const cookie = (await page.context().cookies(`${stack.baseUrl}/codec/decode`)).find((c) => c.name === 'codec_session');
    expect(cookie).toMatchObject({ httpOnly: true, path: '/codec', sameSite: 'Strict' });
    expect((await page.context().cookies(`${stack.baseUrl}/admin/orders`)).map((c) => c.name)).not.toContain('codec_session');
    // The Web UI's request: from its origin, with the cookie and no Authorization header.
    const [encrypted] = await TEST_PAYLOAD_CODEC.encode([defaultPayloadConverter.toPayload('decrypted for the Web UI')]);
    const res = await fetch(`${stack.baseUrl}/codec/decode`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: 'http://127.0.0.1:8233', cookie: `codec_session=${cookie!.value}` },
      body: JSON.stringify({
        payloads: [
          {
            metadata: Object.fromEntries(Object.entries(encrypted!.metadata!).map(([k, v]) => [k, Buffer.from(v!).toString('base64')])),
            data: Buffer.from(encrypted!.data!).toString('base64'),
          },
        ],
      }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe('http://127.0.0.1:8233');
    const body = (await res.json()) as { payloads: Array<{ data: string }> };
    expect(Buffer.from(body.payloads[0]!.data, 'base64').toString()).toBe('"decrypted for the Web UI"');
  });

  it('lists a saga that ended with its order open under "Needs attention"; reconcile now repairs it, with the reason on its story', async () => {
    const orderId = await order(MANUAL, 2, 'AWAITING_RESTAURANT');
    await stack.client.workflow.getHandle(`order-${orderId}`).terminate('test: the saga ended from outside');
    const page = desk.page;
    const attention = page.locator(`[data-list="attention"] li[data-order-id="${orderId}"]`);
    await page.getByRole('button', { name: 'Refresh' }).click();
    await attention.locator('[data-finding="SAGA_NOT_RUNNING"]').waitFor();
    await attention.getByText(/AWAITING_RESTAURANT · saga TERMINATED/).waitFor();
    await attention.getByRole('button').click();
    await page.locator('[data-story-status="AWAITING_RESTAURANT"]').waitFor();

    // A reason is required before anything is sent.
    await page.getByRole('button', { name: 'Reconcile now' }).click();
    await page.getByRole('alert').getByText('Write why: the reason is kept with the action.').waitFor();
    await page.getByLabel('Reason (required, kept with the action)').fill('saga terminated by mistake: release the hold');
    await page.getByRole('button', { name: 'Reconcile now' }).click();
    // The answer shows under the buttons, and again on the story once it reloads: either will do.
    await page.getByText('Done: repaired: rejected (saga TERMINATED, payment VOIDED)').first().waitFor();
    await page.locator('[data-story-status="REJECTED"]').waitFor();
    await row(page, 'reconciler', 'WorkflowExecutionCompleted').waitFor();
    await row(page, 'operator', 'RECONCILE_DONE').waitFor();
    // Final now: the attention list, read again after the action, no longer lists it.
    await attention.waitFor({ state: 'detached' });
    await page.getByText('ops-1 asked to reconcile: "saga terminated by mistake: release the hold"').waitFor();
    expect((await rowsOf(stack, orderId)).order).toMatchObject({ status: 'REJECTED', failure_reason: 'SAGA_ABORTED' });
    await screenshot(page, 'operator-desk');
    // The README's picture (docs/screenshots/operator-desk.png): the top of the page, not all of the timeline.
    await page.setViewportSize({ width: 1280, height: 1200 });
    await page.screenshot({ path: path.join(SCREENSHOT_DIR, 'operator-desk-top.png') });
    await page.setViewportSize({ width: 1280, height: 860 });
  });

  it('cancels an order waiting for the restaurant through its saga, and refuses a cancel once it is final; Korean labels', async () => {
    const orderId = await order(MANUAL, 3, 'AWAITING_RESTAURANT');
    const page = desk.page;
    await page.goto(`${stack.baseUrl}/console/operator/#/o/${orderId}`);
    await page.locator('[data-story-status="AWAITING_RESTAURANT"]').waitFor();
    await page.getByLabel('Reason (required, kept with the action)').fill('customer called: wrong address');
    await page.getByRole('button', { name: 'Cancel order' }).click();
    await page
      .locator('[data-action-result]')
      .getByText(/^Done: cancelled: every compensation ran \(OPERATOR_CANCELLED, payment VOIDED\)$/)
      .waitFor();
    await page.locator('[data-story-status="CANCELLED"]').waitFor();
    expect((await rowsOf(stack, orderId)).order).toMatchObject({ status: 'CANCELLED', failure_reason: 'OPERATOR_CANCELLED' });

    await page.getByLabel('Reason (required, kept with the action)').fill('again');
    await page.getByRole('button', { name: 'Retry step now' }).click();
    await page
      .getByRole('alert')
      .getByText(/^Refused \(ORDER_CLOSED\): The order is already CANCELLED/)
      .waitFor();

    await page.getByRole('button', { name: 'Switch to Korean' }).click();
    await page.getByRole('heading', { name: '주의가 필요한 주문' }).waitFor();
    await page.getByRole('button', { name: '지금 정합성 복구' }).waitFor();
    await row(page, 'operator', 'CANCEL_DONE').getByText('운영자').waitFor();
    await screenshot(page, 'operator-desk-ko');
    await page.getByRole('button', { name: '영어로 보기' }).click();
    await page.getByRole('heading', { name: 'Needs attention' }).waitFor();
  });
});
