import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import pg from 'pg';
import { Registry } from 'prom-client';
import { createDb, type Db } from '../db/knex';
import { migrateLatest } from '../db/migrations';
import { menuIdFor, restaurantIdFor, seedRestaurants } from '../db/seed';
import { applyBatch } from '../db/projector/apply';
import type { SourceTransaction } from '../db/projector/changes';
import { parseLsn } from '../db/projector/lsn';
import { createMenuProjector, type MenuProjector, type MenuProjectorOptions } from '../db/projector/projector';
import { createLogger } from '../lib/node/logger';
import { ensureDatabase } from '../lib/node/pg-admin';
import { namePiecesDrift, readModel, sourceModel } from './support/read-model';
import { killProcessGroups } from './support/processes';
import { dropSlotWhenFree } from './support/projector';
import { untilPasses } from './support/retry';

// Real Postgres pair from global-setup, real logical replication. Slots are cluster-wide, so every
// scenario uses its own databases and a unique slot name, and afterAll drops the slots.

const ROOT = path.resolve(__dirname, '..');
const logger = createLogger('cdc-test', process.env.TEST_LOG_LEVEL ?? 'silent');

interface Pair {
  label: string;
  sourceUrl: string;
  readUrl: string;
  source: Db;
  read: Db;
  slot: string;
  publication: string;
}

const pairs: Pair[] = [];
const projectors: MenuProjector[] = [];
const children: ChildProcess[] = [];
const pools: pg.Pool[] = [];

function withDatabase(adminUrl: string, name: string): string {
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  return u.toString();
}

async function createPair(label: string): Promise<Pair> {
  const primaryAdmin = process.env.TEST_PG_PRIMARY_ADMIN_URL;
  const readAdmin = process.env.TEST_PG_READ_ADMIN_URL;
  if (!primaryAdmin || !readAdmin) throw new Error('global-setup did not start Postgres');
  const suffix = `${label}_${randomBytes(3).toString('hex')}`;
  const sourceUrl = withDatabase(primaryAdmin, `restaurants_cdc_${suffix}`);
  const readUrl = withDatabase(readAdmin, `menu_read_cdc_${suffix}`);
  await Promise.all([ensureDatabase(primaryAdmin, `restaurants_cdc_${suffix}`), ensureDatabase(readAdmin, `menu_read_cdc_${suffix}`)]);
  const pair: Pair = {
    label,
    sourceUrl,
    readUrl,
    source: createDb(sourceUrl, 4),
    read: createDb(readUrl, 4),
    slot: `cdc_test_${suffix}`,
    publication: `menu_cdc_${label}`,
  };
  pairs.push(pair);
  await Promise.all([migrateLatest(pair.source, 'restaurants'), migrateLatest(pair.read, 'menu_read')]);
  return pair;
}

function startProjector(pair: Pair, extra: Partial<MenuProjectorOptions> = {}) {
  const registry = new Registry();
  const projector = createMenuProjector({
    sourceUrl: pair.sourceUrl,
    readDb: pair.read,
    slotName: pair.slot,
    publicationName: pair.publication,
    logger,
    registry,
    lagSampleIntervalMs: 200,
    idlePositionIntervalMs: 200,
    backoff: { initialMs: 100, maxMs: 1000 },
    ...extra,
  });
  projectors.push(projector);
  return { projector, registry };
}

/** Retries an assertion until it passes (this file's defaults: 15_000 ms, every 50 ms). */
const eventually = <T>(fn: () => Promise<T>, timeoutMs = 15_000, intervalMs = 50) => untilPasses(fn, timeoutMs, intervalMs);

async function expectConverged(pair: Pair, timeoutMs = 20_000): Promise<void> {
  await eventually(async () => expect(await readModel(pair.read)).toEqual(await sourceModel(pair.source)), timeoutMs, 100);
}

async function stateOf(pair: Pair) {
  const row = (await pair
    .read('projector_state')
    .select(pair.read.raw('last_lsn::text AS last_lsn'), 'changes_applied', 'resynced_at')
    .where({ slot_name: pair.slot })
    .first()) as { last_lsn: string; changes_applied: number; resynced_at: Date | null } | undefined;
  return row ? { lastLsn: parseLsn(row.last_lsn), changesApplied: Number(row.changes_applied), resyncedAt: row.resynced_at } : null;
}

async function slotOf(pair: Pair) {
  const res = await pair.source.raw('SELECT plugin, active, active_pid, confirmed_flush_lsn::text AS confirmed FROM pg_replication_slots WHERE slot_name = ?', [
    pair.slot,
  ]);
  const row = res.rows[0] as { plugin: string; active: boolean; active_pid: number | null; confirmed: string | null } | undefined;
  return row ? { ...row, confirmed: row.confirmed ? parseLsn(row.confirmed) : null } : null;
}

async function metric(registry: Registry, name: string): Promise<number> {
  const json = await registry.getMetricsAsJSON();
  const m = json.find((x) => x.name === name);
  if (!m) throw new Error(`no metric ${name}`);
  const values = (m as { values: Array<{ value: number; metricName?: string }> }).values;
  if (String(m.type) === 'histogram') return values.find((v) => v.metricName === `${name}_count`)?.value ?? 0;
  return values.reduce((s, v) => s + v.value, 0);
}

/**
 * Single-row updates from `concurrency` connections until stop() is called (or `total` is reached).
 * Each update bumps version and changes price and status, so item counts move too.
 */
function startWriter(pair: Pair, opts: { concurrency: number; total?: number; items: string[] }) {
  const pool = new pg.Pool({ connectionString: pair.sourceUrl, max: opts.concurrency });
  pools.push(pool);
  const statuses = ['ON_SALE', 'ON_SALE', 'SOLD_OUT', 'HIDDEN'];
  let stopped = false;
  let written = 0;
  let started = 0;
  const worker = async () => {
    while (!stopped && (opts.total === undefined || started < opts.total)) {
      started += 1;
      const id = opts.items[Math.floor(Math.random() * opts.items.length)]!;
      const status = statuses[Math.floor(Math.random() * statuses.length)]!;
      const res = await pool.query('UPDATE menu_items SET price = price + 10, status = $2, version = version + 1, updated_at = now() WHERE menu_id = $1', [
        id,
        status,
      ]);
      written += res.rowCount ?? 0;
    }
  };
  const done = Promise.all(Array.from({ length: opts.concurrency }, worker));
  return {
    get written() {
      return written;
    },
    /** Stops early (for open-ended writers); returns how many rows were updated. */
    async stop() {
      stopped = true;
      await done;
      return written;
    },
    /** Waits for `total` updates to be written. */
    async finish() {
      await done;
      return written;
    },
  };
}

/** Samples confirmed_flush_lsn, then last_lsn: the acknowledged position must never be ahead. */
function watchAckInvariant(pair: Pair) {
  let stopped = false;
  const violations: string[] = [];
  let samples = 0;
  const loop = (async () => {
    while (!stopped) {
      const slot = await slotOf(pair);
      const state = await stateOf(pair);
      if (slot?.confirmed != null && state) {
        samples += 1;
        if (slot.confirmed > state.lastLsn) violations.push(`${slot.confirmed} > ${state.lastLsn}`);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return { samples, violations };
    },
  };
}

afterAll(async () => {
  await Promise.all(projectors.map((p) => p.stop()));
  await killProcessGroups(children);
  await Promise.all(pools.map((p) => p.end()));
  for (const pair of pairs) {
    await dropSlotWhenFree(pair.source, pair.slot);
    await Promise.all([pair.source.destroy(), pair.read.destroy()]);
  }
});

describe('CDC projector: streaming', () => {
  let pair: Pair;
  let projector: MenuProjector;
  let registry: Registry;

  beforeAll(async () => {
    pair = await createPair('stream');
    await seedRestaurants(pair.source, { restaurants: 5, itemsPerRestaurant: 4 });
  });

  it('creates the publication and the slot from nothing, then snapshots what is there', async () => {
    expect(await slotOf(pair)).toBeNull();
    const pubs = await pair.source.raw('SELECT 1 FROM pg_publication WHERE pubname = ?', [pair.publication]);
    expect(pubs.rows).toHaveLength(0);

    ({ projector, registry } = startProjector(pair));
    await projector.start();

    const slot = await slotOf(pair);
    expect(slot).toMatchObject({ plugin: 'pgoutput', active: true });
    const tables = await pair.source.raw('SELECT tablename FROM pg_publication_tables WHERE pubname = ? ORDER BY 1', [pair.publication]);
    expect(tables.rows.map((r: { tablename: string }) => r.tablename)).toEqual(['menu_items', 'restaurants']);
    const state = await stateOf(pair);
    expect(state?.changesApplied).toBe(0);
    expect(state?.resyncedAt).toBeInstanceOf(Date);
    expect(slot!.confirmed! <= state!.lastLsn).toBe(true);
    expect(await readModel(pair.read)).toEqual(await sourceModel(pair.source));
    expect((await readModel(pair.read)).items).toHaveLength(20);
  });

  it('shows an insert, a price change, SOLD_OUT, HIDDEN and a delete in the read model', async () => {
    const rid = restaurantIdFor(1);
    const item = (id: string) => pair.read('menu_items_read').where({ menu_id: id }).first();
    const count = async () => (await pair.read('restaurants_read').where({ restaurant_id: rid }).first())?.item_count;
    expect(await count()).toBe(4);

    await pair.source('menu_items').insert({ menu_id: 'mnu_new', restaurant_id: rid, name: '쫄면', price: 7000 });
    await eventually(async () => expect(await item('mnu_new')).toMatchObject({ name: '쫄면', price: 7000, status: 'ON_SALE', version: 1 }));
    expect(await count()).toBe(5);
    const lsnAfterInsert = parseLsn((await pair.read.raw("SELECT source_lsn::text AS l FROM menu_items_read WHERE menu_id = 'mnu_new'")).rows[0].l);

    await pair.source('menu_items').where({ menu_id: 'mnu_new' }).update({ price: 7500, version: 2 });
    await eventually(async () => expect(await item('mnu_new')).toMatchObject({ price: 7500, version: 2 }));
    const lsnAfterPrice = parseLsn((await pair.read.raw("SELECT source_lsn::text AS l FROM menu_items_read WHERE menu_id = 'mnu_new'")).rows[0].l);
    expect(lsnAfterPrice > lsnAfterInsert).toBe(true);

    await pair.source('menu_items').where({ menu_id: 'mnu_new' }).update({ status: 'SOLD_OUT', version: 3 });
    await eventually(async () => expect(await item('mnu_new')).toMatchObject({ status: 'SOLD_OUT', version: 3 }));
    expect(await count()).toBe(5); // sold out is still listed

    await pair.source('menu_items').where({ menu_id: 'mnu_new' }).update({ status: 'HIDDEN', version: 4 });
    await eventually(async () => expect(await item('mnu_new')).toMatchObject({ status: 'HIDDEN', version: 4 }));
    expect(await count()).toBe(4);

    await pair
      .source('menu_items')
      .where({ menu_id: menuIdFor(1, 1) })
      .delete();
    await eventually(async () => expect(await item(menuIdFor(1, 1))).toBeUndefined());
    expect(await count()).toBe(3);

    // A restaurant with its items in one transaction, renamed, then removed with its items.
    await pair.source.transaction(async (trx) => {
      await trx('restaurants').insert({ restaurant_id: 'rst_new', name: '새 가게', auto_accept: true });
      await trx('menu_items').insert([
        { menu_id: 'mnu_n1', restaurant_id: 'rst_new', name: 'A', price: 1000 },
        { menu_id: 'mnu_n2', restaurant_id: 'rst_new', name: 'B', price: 2000, status: 'HIDDEN' },
      ]);
    });
    await eventually(async () =>
      expect(await pair.read('restaurants_read').where({ restaurant_id: 'rst_new' }).first()).toMatchObject({
        name: '새 가게',
        auto_accept: true,
        item_count: 1,
      }),
    );
    await pair.source('restaurants').where({ restaurant_id: 'rst_new' }).update({ name: '바뀐 가게' });
    await pair.source.transaction(async (trx) => {
      await trx('menu_items').where({ restaurant_id: 'rst_new' }).delete();
      await trx('restaurants').where({ restaurant_id: 'rst_new' }).delete();
    });
    await eventually(async () => expect(await pair.read('restaurants_read').where({ restaurant_id: 'rst_new' }).first()).toBeUndefined());
    expect(await pair.read('menu_items_read').where({ restaurant_id: 'rst_new' })).toEqual([]);
    await expectConverged(pair);
  });

  it('applies many concurrent updates exactly: read model equals source, acknowledged LSN never ahead', async () => {
    const before = (await stateOf(pair))!.changesApplied;
    const watcher = watchAckInvariant(pair);
    const items = (await pair.source('menu_items').pluck('menu_id')) as string[];
    const writer = startWriter(pair, { concurrency: 4, total: 1200, items });
    // A few multi-row transactions in between: each must land whole.
    let multi = 0;
    for (let i = 0; i < 10; i++) {
      const res = await pair.source.raw("UPDATE menu_items SET price = price + 1, version = version + 1 WHERE restaurant_id = ? AND status <> 'HIDDEN'", [
        restaurantIdFor(2 + (i % 3)),
      ]);
      multi += res.rowCount ?? 0;
    }
    const written = await writer.finish();
    await expectConverged(pair);
    const { samples, violations } = await watcher.stop();
    expect(violations).toEqual([]);
    expect(samples).toBeGreaterThan(5);
    // Every row change counted once: a transaction applied twice would add its changes again.
    expect((await stateOf(pair))!.changesApplied - before).toBe(written + multi);
    await eventually(async () => {
      const [slot, state] = [await slotOf(pair), await stateOf(pair)];
      expect(slot!.confirmed).toBe(state!.lastLsn);
    });
  });

  it('exports lag and throughput metrics', async () => {
    expect(await metric(registry, 'cdc_projector_changes_applied_total')).toBeGreaterThan(1200);
    expect(await metric(registry, 'cdc_projector_apply_delay_seconds')).toBeGreaterThan(100);
    expect(await metric(registry, 'cdc_projector_streaming')).toBe(1);
    // Caught up: nothing waiting, and the idle keepalive positions bring the byte lag to zero.
    await eventually(async () => {
      expect(await metric(registry, 'cdc_projector_lag_seconds')).toBe(0);
      expect(await metric(registry, 'cdc_projector_lag_bytes')).toBe(0);
    });
    const text = await registry.metrics();
    expect(text).toMatch(/cdc_projector_apply_delay_seconds_bucket\{le="0.5",replica="read-1",slot="/);
    expect(projector.status()).toMatchObject({ state: 'streaming', queuedTransactions: 0 });
  });

  it('reconnects after its source and read-model connections are killed', async () => {
    const reconnectsBefore = await metric(registry, 'cdc_projector_reconnects_total');
    const { active_pid } = (await slotOf(pair))!;
    await pair.source.raw('SELECT pg_terminate_backend(?)', [active_pid]);
    await pair.read.raw(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name <> ''",
    );
    await pair
      .source('menu_items')
      .where({ menu_id: menuIdFor(3, 3) })
      .update({ price: 99_000, version: 50 });
    await eventually(async () =>
      expect(
        await pair
          .read('menu_items_read')
          .where({ menu_id: menuIdFor(3, 3) })
          .first(),
      ).toMatchObject({ price: 99_000 }),
    );
    expect(await metric(registry, 'cdc_projector_reconnects_total')).toBeGreaterThan(reconnectsBefore);
    await expectConverged(pair);
  });
});

describe('CDC projector: replay after an unacknowledged run', () => {
  it('applies nothing twice when the slot was never acknowledged', async () => {
    const pair = await createPair('replay');
    await seedRestaurants(pair.source, { restaurants: 3, itemsPerRestaurant: 5 });
    const items = (await pair.source('menu_items').pluck('menu_id')) as string[];

    // First run never acknowledges: as if it crashed after every read-model commit.
    const first = startProjector(pair, { acknowledge: false });
    await first.projector.start();
    const written = await startWriter(pair, { concurrency: 2, total: 60, items }).finish();
    await expectConverged(pair);
    await first.projector.stop();
    const applied = (await stateOf(pair))!;
    expect(applied.changesApplied).toBe(written);
    expect((await slotOf(pair))!.confirmed! < applied.lastLsn).toBe(true);

    // The slot still holds all of it; the second run must not apply any of it again.
    const second = startProjector(pair);
    await second.projector.start();
    await second.projector.waitForLsn((await pair.source.raw('SELECT pg_current_wal_lsn()::text AS l')).rows[0].l, 10_000);
    expect(await metric(second.registry, 'cdc_projector_changes_applied_total')).toBe(0);
    expect((await stateOf(pair))!.changesApplied).toBe(written);
    await expectConverged(pair);

    // New changes apply normally and the slot catches up with the read model.
    await pair.source('menu_items').where({ menu_id: items[0]! }).update({ price: 12_345 });
    await expectConverged(pair);
    expect((await stateOf(pair))!.changesApplied).toBe(written + 1);
    await eventually(async () => expect((await slotOf(pair))!.confirmed).toBe((await stateOf(pair))!.lastLsn));
  });

  it('skips transactions at or below the stored position, in the same read-model transaction', async () => {
    const pair = await createPair('skip');
    await pair.read('projector_state').insert({ slot_name: pair.slot, last_lsn: '0/100' });
    const item = { menu_id: 'm1', restaurant_id: 'r1', name: '국수', price: 100, status: 'ON_SALE', version: 1 };
    const txn = (end: string, changes: SourceTransaction['changes']): SourceTransaction => ({
      xid: 1,
      endLsn: parseLsn(end),
      commitTimeMs: Date.now(),
      changes,
    });
    const upsert = (row: Record<string, unknown>) => ({ kind: 'upsert' as const, table: 'menu_items' as const, key: 'm1', row });
    const restaurant = { kind: 'upsert' as const, table: 'restaurants' as const, key: 'r1', row: { restaurant_id: 'r1', name: 'R', auto_accept: false } };

    const t1 = txn('0/200', [restaurant, upsert(item)]);
    expect(await applyBatch(pair.read, pair.slot, [t1], null)).toMatchObject({ lastLsn: parseLsn('0/200'), skipped: 0, changes: 2 });
    // Delivered again (and an older one): skipped, nothing counted.
    const again = await applyBatch(pair.read, pair.slot, [t1, txn('0/180', [upsert({ ...item, price: 1 })])], null);
    expect(again).toMatchObject({ lastLsn: parseLsn('0/200'), skipped: 2, changes: 0 });
    expect(await pair.read('menu_items_read').where({ menu_id: 'm1' }).first()).toMatchObject({ price: 100 });

    // A batch of several transactions: last write per row wins; unchanged TOAST (undefined) keeps the old value.
    await applyBatch(
      pair.read,
      pair.slot,
      [
        txn('0/300', [upsert({ ...item, price: 300, version: 2 })]),
        txn('0/400', [upsert({ ...item, name: undefined, price: 400, status: 'HIDDEN', version: 3 })]),
      ],
      parseLsn('0/450'),
    );
    expect(await pair.read('menu_items_read').where({ menu_id: 'm1' }).first()).toMatchObject({ name: '국수', price: 400, status: 'HIDDEN', version: 3 });
    const src = (await pair.read.raw("SELECT source_lsn::text AS l FROM menu_items_read WHERE menu_id = 'm1'")).rows[0].l;
    expect(src).toBe('0/400');
    expect(await pair.read('restaurants_read').where({ restaurant_id: 'r1' }).first()).toMatchObject({ item_count: 0 });
    expect(await stateOf(pair)).toMatchObject({ lastLsn: parseLsn('0/450'), changesApplied: 4 });

    // A failing batch leaves both the rows and the position as they were.
    await expect(
      applyBatch(pair.read, pair.slot, [txn('0/500', [upsert({ ...item, price: 500, version: 4 }), upsert({ ...item, status: null })])], null),
    ).rejects.toThrow();
    expect(await stateOf(pair)).toMatchObject({ lastLsn: parseLsn('0/450'), changesApplied: 4 });
    expect(await pair.read('menu_items_read').where({ menu_id: 'm1' }).first()).toMatchObject({ price: 400 });

    await applyBatch(pair.read, pair.slot, [txn('0/600', [{ kind: 'truncate', tables: ['menu_items'] }])], null);
    expect(await pair.read('menu_items_read')).toEqual([]);
  });
});

describe('CDC projector: backpressure', () => {
  it('stops reading while the applier is behind and still applies everything', async () => {
    const pair = await createPair('pressure');
    await seedRestaurants(pair.source, { restaurants: 4, itemsPerRestaurant: 5 });
    const items = (await pair.source('menu_items').pluck('menu_id')) as string[];
    const first = startProjector(pair);
    await first.projector.start();
    await first.projector.stop();
    // A backlog written while nothing runs: on restart the server sends it as fast as it can.
    const written = await startWriter(pair, { concurrency: 4, total: 1000, items }).finish();

    const { projector } = startProjector(pair, { maxQueuedChanges: 50, maxBatchChanges: 25 });
    let maxQueued = 0;
    const sampler = setInterval(() => (maxQueued = Math.max(maxQueued, projector.status().queuedChanges)), 1);
    await projector.start();
    await expectConverged(pair);
    clearInterval(sampler);
    expect((await stateOf(pair))!.changesApplied).toBe(written);
    // Bounded by the limit plus what one socket read already held, far below the backlog.
    expect(maxQueued).toBeGreaterThanOrEqual(50);
    expect(maxQueued).toBeLessThan(600);
  });
});

describe('CDC projector: re-sync from a snapshot', () => {
  it('builds the read model from a consistent snapshot while writes continue, then streams from its point', async () => {
    const pair = await createPair('resync');
    await seedRestaurants(pair.source, { restaurants: 50, itemsPerRestaurant: 40 });
    const special = [menuIdFor(8, 1), menuIdFor(9, 1)];
    const items = ((await pair.source('menu_items').pluck('menu_id')) as string[]).filter((id) => !special.includes(id));
    // Writes run before the slot exists, while it is created and copied, and after.
    const writer = startWriter(pair, { concurrency: 3, items });
    await new Promise((r) => setTimeout(r, 200));

    let windowWrites = false;
    const { projector } = startProjector(pair, {
      // Commits made after the slot's consistent point but before the copy reads: the snapshot
      // must not see them and the stream must deliver them, exactly once.
      onSnapshotExported: async () => {
        if (windowWrites) return; // only around the first snapshot
        await pair.source('menu_items').insert({ menu_id: 'mnu_window', restaurant_id: restaurantIdFor(7), name: '창', price: 3000 });
        await pair
          .source('menu_items')
          .where({ menu_id: menuIdFor(8, 1) })
          .update({ price: 77_777, version: 999 });
        await pair
          .source('menu_items')
          .where({ menu_id: menuIdFor(9, 1) })
          .delete();
        windowWrites = true;
      },
    });
    await projector.start();
    expect(windowWrites).toBe(true);
    await new Promise((r) => setTimeout(r, 500));
    await writer.stop();
    await expectConverged(pair);
    expect(await pair.read('menu_items_read').where({ menu_id: 'mnu_window' }).first()).toMatchObject({ price: 3000 });
    expect(
      await pair
        .read('menu_items_read')
        .where({ menu_id: menuIdFor(8, 1) })
        .first(),
    ).toMatchObject({ price: 77_777, version: 999 });
    expect(
      await pair
        .read('menu_items_read')
        .where({ menu_id: menuIdFor(9, 1) })
        .first(),
    ).toBeUndefined();

    // An explicit re-sync replaces whatever the read model holds (here: stray rows, and a name piece
    // of no name, as drift in the search table would be).
    await pair.read('menu_items_read').insert({ menu_id: 'stray', restaurant_id: 'nowhere', name: 'x', price: 1, status: 'ON_SALE', version: 1 });
    await pair.read('restaurants_read').insert({ restaurant_id: 'rst_stray', name: '유령식당', auto_accept: false });
    await pair.read('restaurant_name_pieces').insert({ piece: 'zz', restaurant_id: restaurantIdFor(1), category: 'korean' });
    const resyncedBefore = (await stateOf(pair))!.resyncedAt!;
    const more = startWriter(pair, { concurrency: 2, items });
    await projector.resync();
    await more.stop();
    await expectConverged(pair);
    const after = (await stateOf(pair))!;
    expect(after.resyncedAt!.getTime()).toBeGreaterThan(resyncedBefore.getTime());
    expect(await namePiecesDrift(pair.read)).toEqual([]);
    expect(
      await pair
        .read('restaurant_name_pieces')
        .whereIn('restaurant_id', [restaurantIdFor(7)])
        .count({ n: '*' })
        .first(),
    ).not.toEqual({ n: 0 });
  });
});

describe('CDC projector: catching up after a snapshot', () => {
  it('replays what the source wrote while its snapshot was taken, however far behind that leaves it, instead of taking another', async () => {
    // At full size (5.7 M items) a snapshot takes minutes and the source writes over 1 GB of WAL
    // meanwhile (hint bits, vacuum); the far-behind rule then asked for another snapshot, which
    // left as much behind it: the replica never streamed (bench, 2026-12-02).
    const pair = await createPair('catchup');
    await seedRestaurants(pair.source, { restaurants: 20, itemsPerRestaurant: 10 });
    const threshold = 256 * 1024;
    let wrote = false;
    const { projector, registry } = startProjector(pair, {
      resyncBehindBytes: threshold,
      lagSampleIntervalMs: 20,
      onSnapshotExported: async () => {
        if (wrote) return;
        wrote = true;
        // After the snapshot's point: 20,000 changes, megabytes of WAL, for the stream to replay.
        for (let i = 0; i < 100; i++) await pair.source.raw('UPDATE menu_items SET price = price + 1, version = version + 1');
      },
    });
    let maxBehind = 0;
    const watch = setInterval(() => {
      void metric(registry, 'cdc_projector_lag_bytes').then(
        (v) => (maxBehind = Math.max(maxBehind, v)),
        () => undefined,
      );
    }, 10);
    try {
      await projector.start();
      await expectConverged(pair, 60_000);
    } finally {
      clearInterval(watch);
    }
    expect(wrote).toBe(true);
    // It was past the threshold while catching up, and took no second snapshot for it.
    expect(maxBehind).toBeGreaterThan(threshold);
    expect(await resyncsBy(registry)).toEqual({ first_start: 1 });
    expect((await stateOf(pair))!.changesApplied).toBe(20_000);
  });
});

/** cdc_projector_resyncs_total by reason, the reasons with a count only. */
async function resyncsBy(registry: Registry): Promise<Record<string, number>> {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === 'cdc_projector_resyncs_total');
  const values = (m?.values ?? []) as Array<{ value: number; labels: Record<string, string> }>;
  return Object.fromEntries(values.filter((v) => v.value > 0).map((v) => [v.labels.reason, v.value]));
}

describe('CDC projector process', () => {
  function spawnProjector(pair: Pair, args: string[] = []) {
    // One node process with the tsx loader (no tsx wrapper process), in its own process group so
    // that SIGKILL reaches exactly what we started.
    const child = spawn(process.execPath, ['--import', 'tsx', 'db/projector/main.ts', ...args], {
      cwd: ROOT,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        NODE_ENV: 'test',
        RESTAURANTS_DATABASE_URL: pair.sourceUrl,
        MENU_READ_DATABASE_URL: pair.readUrl,
        CDC_SLOT_NAME: pair.slot,
        CDC_PUBLICATION: pair.publication,
        PROJECTOR_METRICS_PORT: '0',
        LOG_LEVEL: 'info',
      },
    });
    children.push(child);
    let output = '';
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    return { child, exited, output: () => output };
  }

  async function waitStreaming(pair: Pair, proc: ReturnType<typeof spawnProjector>) {
    await eventually(
      async () => {
        if (proc.child.exitCode !== null) throw new Error(`projector exited early:\n${proc.output()}`);
        expect(proc.output()).toContain('streaming changes');
        expect((await slotOf(pair))?.active).toBe(true);
      },
      30_000,
      100,
    );
  }

  it('killed with SIGKILL mid-stream and restarted: nothing lost, nothing applied twice; SIGTERM stops cleanly', async () => {
    const pair = await createPair('kill');
    await seedRestaurants(pair.source, { restaurants: 20, itemsPerRestaurant: 10 });
    const items = (await pair.source('menu_items').pluck('menu_id')) as string[];

    const first = spawnProjector(pair);
    await waitStreaming(pair, first);
    expect((await stateOf(pair))!.changesApplied).toBe(0);

    const watcher = watchAckInvariant(pair);
    const writer = startWriter(pair, { concurrency: 3, items });
    await eventually(async () => expect((await stateOf(pair))!.changesApplied).toBeGreaterThan(200), 15_000);
    process.kill(-first.child.pid!, 'SIGKILL');
    expect(await first.exited).toEqual({ code: null, signal: 'SIGKILL' });
    const atKill = writer.written;
    await new Promise((r) => setTimeout(r, 500)); // changes pile up while nothing runs

    const second = spawnProjector(pair);
    await waitStreaming(pair, second);
    await new Promise((r) => setTimeout(r, 500));
    const written = await writer.stop();
    expect(written).toBeGreaterThan(atKill);
    await expectConverged(pair);
    // Exactly once: the counter lives in the same read-model transactions as the rows it counts.
    expect((await stateOf(pair))!.changesApplied).toBe(written);
    const { samples, violations } = await watcher.stop();
    expect(violations).toEqual([]);
    expect(samples).toBeGreaterThan(10);

    second.child.kill('SIGTERM');
    const exit = await second.exited;
    expect({ exit, output: exit.code === 0 ? '' : second.output() }).toEqual({ exit: { code: 0, signal: null }, output: '' });
    expect(second.output()).toContain('projector stopped');
    // The clean stop acknowledged everything it applied.
    expect((await slotOf(pair))!.confirmed).toBe((await stateOf(pair))!.lastLsn);

    // --resync rebuilds from a fresh snapshot and carries on streaming.
    const before = (await stateOf(pair))!.resyncedAt!;
    const third = spawnProjector(pair, ['--resync']);
    await waitStreaming(pair, third);
    expect((await stateOf(pair))!.resyncedAt!.getTime()).toBeGreaterThan(before.getTime());
    await pair.source('menu_items').where({ menu_id: items[0]! }).update({ price: 4242 });
    await expectConverged(pair);
    third.child.kill('SIGTERM');
    expect((await third.exited).code).toBe(0);
  });
});
