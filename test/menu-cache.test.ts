import pg from 'pg';
import { menuIdFor, restaurantIdFor } from '../db/seed';
import { MENU_CHANGES_CHANNEL, notifyMenuChanges, parseMenuChangeNotice, type MenuChangeNotice } from '../db/menu-read/change-notices';
import { eventually, http, startStack, type TestStack } from './support/stack';

// The API's menu cache: served from memory, dropped exactly when the CDC projector announces a
// change, emptied whenever it cannot hear the announcements.
describe('menu cache kept fresh by change data capture', () => {
  let stack: TestStack;
  let owner: string;
  const R = restaurantIdFor(3);
  const ITEM = menuIdFor(3, 1);
  const OTHER = menuIdFor(3, 2);

  beforeAll(async () => {
    stack = await startStack('menucache', { workers: false });
    owner = await stack.token({ role: 'restaurant', sub: 'owner-3', restaurantId: R });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  const menu = async () => {
    const res = await http(stack.baseUrl, 'GET', `/restaurants/${R}/menu`);
    expect(res.status).toBe(200);
    return res.body as { items: Array<{ menuId: string; name: string; price: number; version: number }>; asOf: string };
  };
  const item = (m: Awaited<ReturnType<typeof menu>>, id: string) => m.items.find((i) => i.menuId === id)!;
  /** Changes the read model behind the projector's back: no notice, so only a cache miss can show it. */
  const tamper = (id: string, name: string) => stack.dbs.menuRead('menu_items_read').where({ menu_id: id }).update({ name });

  it('serves a menu from memory, and drops it when the projector announces a change to it', async () => {
    const before = await menu();
    const originalName = item(before, OTHER).name;
    await tamper(OTHER, 'changed behind the cache');
    // Still the cached body: the read model changed without a notice.
    expect(item(await menu(), OTHER).name).toBe(originalName);

    // A real change goes restaurants DB -> CDC -> projector (with its notice) -> the cache forgets.
    const patched = await http(stack.baseUrl, 'PATCH', `/restaurants/${R}/menu-items/${ITEM}`, {
      token: owner,
      headers: { 'if-match': String(item(before, ITEM).version) },
      body: { price: 31000 },
    });
    expect(patched.status).toBe(200);
    const after = await eventually(async () => {
      const m = await menu();
      return item(m, ITEM).price === 31000 ? m : undefined;
    });
    // The reload read the whole menu again, the tampered row included; asOf moved with it.
    expect(item(after, OTHER).name).toBe('changed behind the cache');
    expect(after.asOf >= before.asOf).toBe(true);
    await tamper(OTHER, originalName);
  });

  it('empties itself when the LISTEN connection drops, and listens again', async () => {
    await menu();
    await tamper(OTHER, 'changed while cached');
    expect(item(await menu(), OTHER).name).not.toBe('changed while cached');
    const listensBefore = stack.menuCache.listenCount;
    const killed = await stack.dbs.menuRead.raw(
      `SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = 'api-menu-cache' AND datname = current_database()`,
    );
    expect(killed.rows).toHaveLength(1);
    await eventually(async () => stack.menuCache.listenCount > listensBefore && stack.menuCache.isListening);
    // It listens again and has forgotten everything, so the next read sees the database.
    expect(item(await menu(), OTHER).name).toBe('changed while cached');
  });

  it('does not keep a load that a change overtook, and shares one load between concurrent misses', async () => {
    const cache = stack.menuCache;
    await cache.ready();
    let release!: (body: string) => void;
    const first = cache.get('rst_race', 'public', () => new Promise<string>((r) => (release = r)));
    const joined = cache.get('rst_race', 'public', () => Promise.reject(new Error('a second load for the same menu')));
    cache.apply({ restaurants: ['rst_race'] });
    // After the notice a reader must not join the load that predates it.
    const fresh = cache.get('rst_race', 'public', async () => 'after the change');
    release('before the change');
    expect(await first).toBe('before the change');
    expect(await joined).toBe('before the change');
    expect(await fresh).toBe('after the change');
    // What is kept is the fresh one.
    expect(await cache.get('rst_race', 'public', () => Promise.reject(new Error('should be cached')))).toBe('after the change');
    // The public and the full (owner's) menus are separate entries; a notice drops both.
    expect(await cache.get('rst_race', 'full', async () => 'full menu')).toBe('full menu');
    cache.apply({ restaurants: ['rst_race'] });
    expect(await cache.get('rst_race', 'full', async () => 'full again')).toBe('full again');
    expect(await cache.get('rst_race', 'public', async () => 'public again')).toBe('public again');
    // "all" (a re-sync from snapshot, a truncate) forgets everything.
    cache.apply({ all: true });
    expect(await cache.get('rst_race', 'public', async () => 'after all')).toBe('after all');
  });

  it('the projector lists changed restaurants in notices under the size limit, or says "all"', async () => {
    const listener = new pg.Client({ connectionString: stack.dbs.urls.menu_read });
    await listener.connect();
    const received: Array<{ notice: MenuChangeNotice; bytes: number }> = [];
    listener.on('notification', (m) => {
      if (m.channel === MENU_CHANGES_CHANNEL) received.push({ notice: parseMenuChangeNotice(m.payload), bytes: Buffer.byteLength(m.payload ?? '') });
    });
    await listener.query(`LISTEN ${MENU_CHANGES_CHANNEL}`);
    try {
      const many = Array.from({ length: 1500 }, (_, i) => `rst_notice_${String(i).padStart(6, '0')}`);
      await stack.dbs.menuRead.transaction((trx) => notifyMenuChanges(trx, many));
      await eventually(async () => received.flatMap((r) => ('restaurants' in r.notice ? r.notice.restaurants : [])).length === many.length);
      expect(received.length).toBeGreaterThan(1);
      for (const r of received) expect(r.bytes).toBeLessThan(8000);
      expect(received.flatMap((r) => ('restaurants' in r.notice ? r.notice.restaurants : [])).sort()).toEqual(many);

      received.length = 0;
      await stack.dbs.menuRead.transaction((trx) =>
        notifyMenuChanges(
          trx,
          Array.from({ length: 2500 }, (_, i) => `rst_${i}`),
        ),
      );
      await eventually(async () => received.length === 1);
      expect(received[0]!.notice).toEqual({ all: true });

      // A rolled-back batch announces nothing.
      received.length = 0;
      await stack.dbs.menuRead
        .transaction(async (trx) => {
          await notifyMenuChanges(trx, ['rst_rolled_back']);
          throw new Error('roll back');
        })
        .catch(() => undefined);
      await new Promise((r) => setTimeout(r, 200));
      expect(received).toEqual([]);
      expect(parseMenuChangeNotice('not json')).toEqual({ all: true });
    } finally {
      await listener.end();
    }
  });
});
