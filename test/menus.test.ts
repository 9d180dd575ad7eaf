import { menuIdFor, restaurantIdFor } from '../db/seed';
import { eventually, http, startStack, type TestStack } from './support/stack';
import { placeOrder } from './support/orders';

// Menu commands (optimistic locking) and queries (read model fed by CDC), over HTTP.
describe('menus: commands with optimistic locking, queries from the read model', () => {
  let stack: TestStack;
  let owner: string;
  let customer: string;
  const R = restaurantIdFor(2);

  beforeAll(async () => {
    stack = await startStack('menus', { workers: false });
    owner = await stack.token({ role: 'restaurant', sub: 'owner-2', restaurantId: R });
    customer = await stack.token({ role: 'customer', sub: 'cust-menus' });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  const menuItem = async (menuId: string, token?: string) => {
    const res = await http(stack.baseUrl, 'GET', `/restaurants/${R}/menu`, token ? { token } : {});
    return (res.body.items as Array<{ menuId: string; price: number; status: string; version: number; name: string }>).find((i) => i.menuId === menuId);
  };

  it('concurrent changes to one item: exactly one wins, the others get 409 VERSION_CONFLICT', async () => {
    const menuId = menuIdFor(2, 1);
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        http(stack.baseUrl, 'PATCH', `/restaurants/${R}/menu-items/${menuId}`, {
          token: owner,
          headers: { 'if-match': '1' },
          body: { price: 10000 + i * 100 },
        }),
      ),
    );
    const winners = results.filter((r) => r.status === 200);
    const losers = results.filter((r) => r.status === 409);
    expect(winners).toHaveLength(1);
    expect(losers).toHaveLength(7);
    for (const l of losers) {
      expect(l.body.error.code).toBe('VERSION_CONFLICT');
      expect(l.body.error.details.currentVersion).toBe(2);
    }
    const row = await stack.dbs.restaurants('menu_items').where({ menu_id: menuId }).first();
    expect(row.version).toBe(2);
    expect(winners[0]!.body).toEqual({ menuId, version: 2 });
    // The change reaches the read model through CDC.
    const seen = await eventually(async () => {
      const item = await menuItem(menuId);
      return item?.version === 2 ? item : undefined;
    });
    expect(seen.price).toBe(Number(row.price));
  });

  it('a change without If-Match is 428; a malformed one 400; an unknown item 404', async () => {
    const menuId = menuIdFor(2, 2);
    expect((await http(stack.baseUrl, 'PATCH', `/restaurants/${R}/menu-items/${menuId}`, { token: owner, body: { price: 5000 } })).status).toBe(428);
    expect(
      (await http(stack.baseUrl, 'PATCH', `/restaurants/${R}/menu-items/${menuId}`, { token: owner, headers: { 'if-match': 'abc' }, body: { price: 5000 } }))
        .status,
    ).toBe(400);
    expect(
      (await http(stack.baseUrl, 'PATCH', `/restaurants/${R}/menu-items/mnu_nope`, { token: owner, headers: { 'if-match': '1' }, body: { price: 5000 } }))
        .status,
    ).toBe(404);
  });

  it('a new item (and a retried create with the same key) appears once in the read model', async () => {
    const create = () =>
      http(stack.baseUrl, 'POST', `/restaurants/${R}/menu-items`, {
        token: owner,
        headers: { 'idempotency-key': 'new-dish-1' },
        body: { name: '물회', price: 15000 },
      });
    const first = await create();
    const again = await create();
    expect(first.status).toBe(201);
    expect(again.status).toBe(200);
    expect(again.body.menuId).toBe(first.body.menuId);
    const item = await eventually(() => menuItem(first.body.menuId));
    expect(item).toMatchObject({ name: '물회', price: 15000, status: 'ON_SALE', version: 1 });
    expect(await stack.dbs.restaurants('menu_items').where({ name: '물회' }).count('* as n').first()).toEqual({ n: 1 });
  });

  it('a sold-out item is refused by POST /orders once the read model has it; HIDDEN items are hidden from customers', async () => {
    const menuId = menuIdFor(2, 3);
    const soldOut = await http(stack.baseUrl, 'PATCH', `/restaurants/${R}/menu-items/${menuId}`, {
      token: owner,
      headers: { 'if-match': '1' },
      body: { status: 'SOLD_OUT' },
    });
    expect(soldOut.status).toBe(200);
    await eventually(async () => (await menuItem(menuId))?.status === 'SOLD_OUT');
    const refused = await placeOrder(stack, customer, { restaurantId: R, items: [{ menuId, quantity: 1 }] });
    expect(refused.status).toBe(422);
    expect(refused.body.error.code).toBe('ITEM_UNAVAILABLE');
    expect(refused.body.error.details.menuIds).toEqual([menuId]);
    expect(await stack.dbs.orders('orders').count('* as n').first()).toEqual({ n: 0 });

    const hidden = await http(stack.baseUrl, 'PATCH', `/restaurants/${R}/menu-items/${menuId}`, {
      token: owner,
      headers: { 'if-match': '2' },
      body: { status: 'HIDDEN' },
    });
    expect(hidden.status).toBe(200);
    await eventually(async () => (await menuItem(menuId, owner))?.status === 'HIDDEN');
    expect(await menuItem(menuId)).toBeUndefined();
    expect(await menuItem(menuId, customer)).toBeUndefined();
    expect((await menuItem(menuId, owner))?.status).toBe('HIDDEN');
  });

  it('a deleted item leaves the read model', async () => {
    const menuId = menuIdFor(2, 4);
    await stack.dbs.restaurants('menu_items').where({ menu_id: menuId }).delete();
    await eventually(async () => (await menuItem(menuId, owner)) === undefined);
  });

  it('lists restaurants from the read model, paged', async () => {
    const first = await http(stack.baseUrl, 'GET', '/restaurants?limit=4');
    expect(first.status).toBe(200);
    expect(first.body.restaurants).toHaveLength(4);
    const second = await http(stack.baseUrl, 'GET', `/restaurants?limit=4&cursor=${first.body.nextCursor}`);
    expect(second.body.restaurants.map((r: { restaurantId: string }) => r.restaurantId)).toEqual([restaurantIdFor(5), restaurantIdFor(6)]);
    expect(second.body.nextCursor).toBeNull();
  });
});
