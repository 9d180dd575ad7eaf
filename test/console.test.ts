// The web console end to end: headless Chromium (Debian's package, driven by playwright-core)
// against the real stack of startStack (Temporal dev server, Postgres, CDC projector, PSP sandbox,
// workers) and the console served by the same API app (createApp mounts web/dist at /console/).
// The console is built first when web/dist is missing or stale (ensureConsoleBuilt).
import type { Browser, Page } from 'playwright-core';
import { menuIdFor, restaurantIdFor } from '../db/seed';
import { ensureConsoleBuilt, launchBrowser, openPage, screenshot, type ConsolePage } from './support/browser';
import { eventually, http, startStack, type TestStack } from './support/stack';
import { rowsOf } from './support/orders';

// rst_0001 waits for the restaurant's decision; rst_0003 auto-accepts (every third does).
const MANUAL = restaurantIdFor(1);
const AUTO = restaurantIdFor(3);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

jest.setTimeout(180_000);

describe('web console in a real browser (restaurant console and customer page)', () => {
  let stack: TestStack;
  let browser: Browser;
  let restaurantToken: string;
  let customerToken: string;
  let restaurant: ConsolePage;
  let customer: ConsolePage;
  const pages: ConsolePage[] = [];

  beforeAll(async () => {
    ensureConsoleBuilt();
    browser = await launchBrowser();
    stack = await startStack('console');
    restaurantToken = await stack.token({ role: 'restaurant', sub: 'owner-1', restaurantId: MANUAL });
    customerToken = await stack.token({ role: 'customer', sub: 'customer-1' });
    restaurant = await openPage(browser);
    customer = await openPage(browser);
    pages.push(restaurant, customer);
    await signIn(restaurant.page, '/console/restaurant/', 'Restaurant token', restaurantToken);
    await signIn(customer.page, '/console/customer/', 'Customer token', customerToken);
  });

  afterAll(async () => {
    await browser?.close();
    await stack?.stop();
  });

  afterEach(() => {
    // No uncaught errors and no Content-Security-Policy refusals in any page.
    for (const p of pages) expect(p.problems).toEqual([]);
  });

  async function signIn(page: Page, path: string, label: string, token: string) {
    await page.goto(`${stack.baseUrl}${path}`);
    await page.getByLabel(label).fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
  }

  /** Orders through the customer page; returns the order id and the Idempotency-Key it sent. */
  async function orderInConsole(restaurantId: string, lines: Array<[menuId: string, quantity: number]>, cardToken = 'tok_ok', shot?: string) {
    const page = customer.page;
    await page.goto(`${stack.baseUrl}/console/customer/#/r/${restaurantId}`);
    for (const [menuId, quantity] of lines) {
      const card = page.locator(`[data-menu-id="${menuId}"]`);
      await card.getByRole('button', { name: /^Add / }).click();
      for (let i = 1; i < quantity; i++) await card.getByRole('button', { name: /^One more / }).click();
    }
    await page.locator(`input[name="card"][value="${cardToken}"]`).check();
    if (shot) await screenshot(page, shot);
    const [request] = await Promise.all([
      page.waitForRequest((r) => r.method() === 'POST' && new URL(r.url()).pathname === '/orders'),
      page.getByRole('button', { name: /and order$/ }).click(),
    ]);
    await page.waitForURL(/#\/orders\/ord_/);
    const orderId = /#\/orders\/(ord_[A-Za-z0-9]+)/.exec(page.url())![1]!;
    return { orderId, idempotencyKey: request.headers()['idempotency-key'] ?? '', body: request.postDataJSON() as Record<string, unknown> };
  }

  const orderStatus = (status: string) => customer.page.locator(`[data-order-status="${status}"]`);

  it('serves the console from the API app, under its security headers, with no inline script', async () => {
    const home = await http(stack.baseUrl, 'GET', '/console/');
    expect(home.status).toBe(200);
    expect(home.headers.get('content-type')).toMatch(/text\/html/);
    expect(home.headers.get('content-security-policy')).toMatch(/script-src 'self'/);
    expect(String(home.body)).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect((await http(stack.baseUrl, 'GET', '/')).status).toBe(200); // redirected to /console/
    expect((await http(stack.baseUrl, 'GET', '/console/nope.js')).body.error.code).toBe('NOT_FOUND');

    const { page, problems } = await openPage(browser);
    await page.goto(`${stack.baseUrl}/`);
    expect(new URL(page.url()).pathname).toBe('/console/');
    await page.getByRole('link', { name: /Restaurant console/ }).waitFor();
    await page.getByRole('link', { name: /Order food/ }).waitFor();
    await screenshot(page, 'console-home');
    expect(problems).toEqual([]);
    await page.context().close();
  });

  it('refuses a token for the wrong role, and a token the API does not accept, with a clear message', async () => {
    const { page, problems } = await openPage(browser);
    await page.goto(`${stack.baseUrl}/console/restaurant/`);
    await page.getByLabel('Restaurant token').fill(customerToken);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').getByText('This is a customer token; this page needs a restaurant token.').waitFor();

    // Well-formed but signed with another secret: the API's 401 signs the page out again.
    const [header, , signature] = restaurantToken.split('.');
    const claims = Buffer.from(JSON.stringify({ role: 'restaurant', sub: 'owner-1', restaurantId: MANUAL, exp: Math.floor(Date.now() / 1000) + 600 })).toString(
      'base64url',
    );
    await page.getByLabel('Restaurant token').fill(`${header}.${claims}.${signature}`);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page
      .getByRole('alert')
      .getByText(/The API refused this token/)
      .waitFor();
    expect(problems).toEqual([]);
    await page.context().close();
  });

  it('flow 1: a customer orders from a restaurant that does not auto-accept, the restaurant accepts in its console, the customer sees CONFIRMED', async () => {
    const { orderId, idempotencyKey, body } = await orderInConsole(
      MANUAL,
      [
        [menuIdFor(1, 1), 2],
        [menuIdFor(1, 4), 1],
      ],
      'tok_ok',
      'customer-checkout',
    );
    expect(idempotencyKey).toMatch(UUID);
    expect(body).toEqual({
      restaurantId: MANUAL,
      items: [
        { menuId: menuIdFor(1, 1), quantity: 2 },
        { menuId: menuIdFor(1, 4), quantity: 1 },
      ],
      deliveryAddress: expect.any(String),
      paymentMethod: { cardToken: 'tok_ok' },
    });
    await orderStatus('AWAITING_RESTAURANT').waitFor();
    await customer.page.getByText(/The restaurant has \d+:\d\d left to answer/).waitFor();
    await screenshot(customer.page, 'customer-order-waiting');

    // The order appears by itself in the restaurant console, with its lines and the countdown.
    const card = restaurant.page.locator(`li[data-order-id="${orderId}"]`);
    await card.waitFor({ timeout: 15_000 });
    await card.getByText(/\d+:\d\d left to decide/).waitFor();
    const prices = await stack.dbs
      .restaurants('menu_items')
      .whereIn('menu_id', [menuIdFor(1, 1), menuIdFor(1, 4)])
      .orderBy('menu_id');
    const total = Number(prices[0].price) * 2 + Number(prices[1].price);
    await card.getByText('× 2').waitFor();
    await card.getByText('× 1').waitFor();
    expect(await card.locator('.amount').textContent()).toBe(`₩${total.toLocaleString('en-US')}`);
    await screenshot(restaurant.page, 'restaurant-console');

    await card.getByRole('button', { name: 'Accept' }).click();
    await restaurant.page.locator(`tr[data-order-id="${orderId}"][data-status="CONFIRMED"]`).waitFor();
    expect(await card.count()).toBe(0);

    await orderStatus('CONFIRMED').waitFor({ timeout: 15_000 });
    await customer.page.getByText('Confirmed! The restaurant is preparing your order.').waitFor();
    await customer.page.getByText(`Your card was charged ₩${total.toLocaleString('en-US')}.`).waitFor();
    await screenshot(customer.page, 'customer-order-confirmed');

    const rows = await rowsOf(stack, orderId);
    expect(rows.order.status).toBe('CONFIRMED');
    expect(rows.payment.status).toBe('CAPTURED');
    expect(Number(rows.payment.amount)).toBe(total);
    expect(rows.ticket.status).toBe('ACCEPTED');
    expect(rows.history).toEqual(['PENDING', 'AWAITING_RESTAURANT', 'CONFIRMED']);
    const key = await stack.dbs.orders('idempotency_keys').where({ order_id: orderId }).first();
    expect(key.key).toBe(idempotencyKey);
  });

  it('flow 2: the restaurant marks an item sold out in its console; the customer menu shows it sold out once the read model has it', async () => {
    const menuId = menuIdFor(1, 3);
    const cpage = customer.page;
    await cpage.goto(`${stack.baseUrl}/console/customer/#/r/${MANUAL}`);
    const item = cpage.locator(`[data-menu-id="${menuId}"]`);
    await item.getByRole('button', { name: /^Add / }).waitFor();
    await screenshot(cpage, 'customer-menu');

    const row = restaurant.page.locator(`tr[data-menu-id="${menuId}"]`);
    await row.getByRole('button', { name: 'Sold out' }).click();
    await restaurant.page.locator(`#msg-${menuId}`).getByText('Saved (version 2).').waitFor();
    expect(await row.getByRole('button', { name: 'Sold out' }).getAttribute('aria-pressed')).toBe('true');
    const source = await stack.dbs.restaurants('menu_items').where({ menu_id: menuId }).first();
    expect(source).toMatchObject({ status: 'SOLD_OUT', version: 2 });

    // The customer page reads menus only from the read model, which CDC feeds.
    await cpage.locator(`[data-menu-id="${menuId}"][data-status="SOLD_OUT"]`).waitFor({ timeout: 15_000 });
    expect(await item.getByRole('button', { name: /^Add / }).count()).toBe(0);
    await item.getByText('Sold out').waitFor();
    const read = await stack.dbs.menuRead('menu_items_read').where({ menu_id: menuId }).first();
    expect(read).toMatchObject({ status: 'SOLD_OUT', version: 2 });
    await screenshot(cpage, 'customer-menu-sold-out');
    await screenshot(restaurant.page, 'restaurant-menu-sold-out');

    // And back on sale.
    await row.getByRole('button', { name: 'On sale' }).click();
    await restaurant.page.locator(`#msg-${menuId}`).getByText('Saved (version 3).').waitFor();
    await cpage.locator(`[data-menu-id="${menuId}"][data-status="ON_SALE"]`).waitFor({ timeout: 15_000 });
  });

  it('flow 3: a declined card ends REJECTED with its reason in plain words', async () => {
    const { orderId } = await orderInConsole(AUTO, [[menuIdFor(3, 1), 1]], 'tok_decline');
    await orderStatus('REJECTED').waitFor({ timeout: 20_000 });
    await customer.page.getByText('Your card was declined, so nothing was charged. Try another card.').waitFor();
    expect(await customer.page.getByText('PAYMENT_DECLINED').count()).toBe(0);
    await customer.page.getByRole('button', { name: 'Cancel order' }).waitFor({ state: 'detached' });
    await screenshot(customer.page, 'customer-order-rejected');
    const rows = await rowsOf(stack, orderId);
    expect(rows.order.failure_reason).toBe('PAYMENT_DECLINED');
    expect(rows.payment.status).toBe('DECLINED');
  });

  it('flow 3b: the restaurant rejects in its console; the customer reads why in plain words', async () => {
    const { orderId } = await orderInConsole(MANUAL, [[menuIdFor(1, 2), 1]]);
    await orderStatus('AWAITING_RESTAURANT').waitFor();
    const card = restaurant.page.locator(`li[data-order-id="${orderId}"]`);
    await card.getByRole('button', { name: 'Reject' }).click();
    await card.getByLabel('Reason for the customer (optional)').fill('재료 소진');
    await card.getByRole('button', { name: 'Reject order' }).click();
    await restaurant.page.locator(`tr[data-order-id="${orderId}"][data-status="REJECTED"]`).waitFor();

    await orderStatus('REJECTED').waitFor({ timeout: 15_000 });
    await customer.page.getByText('The restaurant could not take your order right now. The hold on your card was released.').waitFor();
    const rows = await rowsOf(stack, orderId);
    expect(rows.order.failure_reason).toBe('RESTAURANT_REJECTED');
    expect(rows.payment.status).toBe('VOIDED');
    expect(rows.ticket).toMatchObject({ status: 'REJECTED', reason: '재료 소진' });
  });

  it('a price edit that lost a race shows the fresh item (409 VERSION_CONFLICT) and applies the change to it', async () => {
    const menuId = menuIdFor(1, 2);
    const page = restaurant.page;
    const row = page.locator(`tr[data-menu-id="${menuId}"]`);
    await row.waitFor();
    const seen = await stack.dbs.restaurants('menu_items').where({ menu_id: menuId }).first();
    await page.locator(`tr[data-menu-id="${menuId}"][data-version="${seen.version}"]`).waitFor();

    // Hold the console's menu reads, as if it had not heard of the other change yet.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    await page.route(/\/restaurants\/[^/]+\/menu$/, async (route) => {
      await gate;
      await route.continue().catch(() => undefined);
    });
    try {
      // Someone else (another device) changes the price first.
      const other = await http(stack.baseUrl, 'PATCH', `/restaurants/${MANUAL}/menu-items/${menuId}`, {
        token: restaurantToken,
        headers: { 'if-match': String(seen.version) },
        body: { price: Number(seen.price) + 500 },
      });
      expect(other.status).toBe(200);

      await row.getByLabel(/^Price of /).fill('12345');
      await row.getByRole('button', { name: 'Save' }).click();
      const conflict = page.locator('.conflict');
      await conflict.getByText('Someone changed this item before you did.').waitFor();
      await conflict.getByText(`version ${seen.version + 1}`).waitFor();
      await conflict.getByText(`₩${(Number(seen.price) + 500).toLocaleString('en-US')}`).waitFor();
      await screenshot(page, 'restaurant-menu-conflict');

      await conflict.getByRole('button', { name: 'Apply my change to it' }).click();
      await page
        .locator(`#msg-${menuId}`)
        .getByText(`Saved (version ${seen.version + 2}).`)
        .waitFor();
    } finally {
      release();
      await page.unroute(/\/restaurants\/[^/]+\/menu$/);
    }
    const saved = await stack.dbs.restaurants('menu_items').where({ menu_id: menuId }).first();
    expect({ price: Number(saved.price), version: saved.version }).toEqual({ price: 12345, version: seen.version + 2 });
    await page.locator(`tr[data-menu-id="${menuId}"][data-version="${seen.version + 2}"]`).waitFor({ timeout: 15_000 });
  });

  it('the customer cancels while the restaurant has not accepted; after acceptance, NOT_CANCELLABLE is shown clearly', async () => {
    const first = await orderInConsole(MANUAL, [[menuIdFor(1, 1), 1]]);
    await orderStatus('AWAITING_RESTAURANT').waitFor();
    await customer.page.getByRole('button', { name: 'Cancel order' }).click();
    await orderStatus('CANCELLED').waitFor();
    await customer.page.getByText('You cancelled this order. Nothing was charged.').waitFor();
    expect((await rowsOf(stack, first.orderId)).payment.status).toBe('VOIDED');

    const second = await orderInConsole(MANUAL, [[menuIdFor(1, 1), 1]]);
    await orderStatus('AWAITING_RESTAURANT').waitFor();
    // Hold the page's order polls so it still offers Cancel after the restaurant accepted.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const pattern = new RegExp(`/orders/${second.orderId}$`);
    await customer.page.route(pattern, async (route) => {
      await gate;
      await route.continue().catch(() => undefined);
    });
    try {
      const accepted = await http(stack.baseUrl, 'POST', `/restaurants/${MANUAL}/orders/${second.orderId}/accept`, { token: restaurantToken });
      expect(accepted.body.status).toBe('CONFIRMED');
      await customer.page.getByRole('button', { name: 'Cancel order' }).click();
      await customer.page.getByRole('alert').getByText('Too late to cancel: the restaurant has already accepted this order.').waitFor();
      await screenshot(customer.page, 'customer-not-cancellable');
    } finally {
      release();
      await customer.page.unroute(pattern);
    }
    await orderStatus('CONFIRMED').waitFor();
    expect((await rowsOf(stack, second.orderId)).payment.status).toBe('CAPTURED');
  });

  it('pages restaurants, switches to Korean labels, and keeps the orders placed in this browser', async () => {
    const page = customer.page;
    await page.goto(`${stack.baseUrl}/console/customer/#/`);
    await page.locator(`[data-restaurant-id="${MANUAL}"]`).waitFor();
    await page.getByRole('heading', { name: 'Your orders in this browser' }).waitFor();
    await screenshot(page, 'customer-restaurants');

    await page.getByRole('button', { name: 'Switch to Korean' }).click();
    await page.getByRole('heading', { name: '식당' }).waitFor();
    expect(await page.locator('html').getAttribute('lang')).toBe('ko');
    await screenshot(page, 'customer-restaurants-ko');
    await page.getByRole('button', { name: '영어로 보기' }).click();
    await page.getByRole('heading', { name: 'Restaurants' }).waitFor();

    // The seed of this stack has 6 restaurants: one page of 12, no next page.
    expect(await page.locator('[data-restaurant-id]').count()).toBe(6);
    expect(await page.getByRole('button', { name: /Next/ }).isDisabled()).toBe(true);
    // The search box: 치킨 finds the seed's one chicken place (rst_0003, "종로 치킨 3호점"); a name
    // nobody has shows a plain message; an empty search lists everyone again.
    const search = page.getByRole('searchbox', { name: 'Search restaurants' });
    await search.fill('치킨');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await eventually(async () => (await page.locator('[data-restaurant-id]').count()) === 1, 5000);
    await page.locator(`[data-restaurant-id="${AUTO}"]`).waitFor();
    await search.fill('없는가게');
    await search.press('Enter');
    await page.getByText('No restaurant has that in its name.').waitFor();
    await search.fill('');
    await search.press('Enter');
    await eventually(async () => (await page.locator('[data-restaurant-id]').count()) === 6, 5000);
    // Five orders were placed from this page: flow 1, 3, 3b and the two of the cancel test.
    await eventually(async () => (await page.getByRole('link', { name: /^ord_/ }).count()) === 5, 5000);
  });
});
