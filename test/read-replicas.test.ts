import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import pg from 'pg';
import { createDb, type Db } from '../db/knex';
import { parseLsn } from '../db/projector/lsn';
import { roleUrl, setUpDatabases, type DatabaseTarget } from '../db/roles';
import { restaurantIdFor, seedRestaurants } from '../db/seed';
import { killProcessGroups } from './support/processes';
import { dropSlotWhenFree } from './support/projector';
import { untilPasses } from './support/retry';
import { freePort } from '../lib/node/ports';
import { createTestDatabases, TEST_PUBLICATION, TEST_ROLE_PASSWORDS, type TestDatabases } from './support/databases';
import { readModel, sourceModel } from './support/read-model';

// Several read replicas of one restaurants database, as `npm start -- --read-replicas N` runs them:
// each replica is its own menu_read database fed by its own projector process (db/projector/main.ts,
// logged in as menu_projector) on its own replication slot. The test cluster has one read instance,
// so the replicas here are databases side by side on it; nothing in the projector shares anything
// between them but the source and its publication.

const ROOT = path.resolve(__dirname, '..');

interface Replica {
  name: string;
  slot: string;
  readUrl: string;
  db: Db;
  metricsPort: number;
  proc?: ProjectorProcess;
}

interface ProjectorProcess {
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: string | null }>;
  output(): string;
}

let dbs: TestDatabases;
const replicas: Replica[] = [];
const children: ChildProcess[] = [];
const pools: pg.Pool[] = [];

/** Retries an assertion until it passes (this file's defaults: 20_000 ms, every 100 ms). */
const eventually = <T>(fn: () => Promise<T>, timeoutMs = 20_000, intervalMs = 100) => untilPasses(fn, timeoutMs, intervalMs);

/** A read replica: the first is the test databases' menu_read; others get a database of their own, set up as in production. */
async function addReplica(name: string): Promise<Replica> {
  let target: DatabaseTarget;
  if (replicas.length === 0) {
    const u = new URL(dbs.urls.menu_read);
    target = { adminUrl: process.env.TEST_PG_READ_ADMIN_URL!, name: u.pathname.slice(1) };
  } else {
    target = { adminUrl: process.env.TEST_PG_READ_ADMIN_URL!, name: `menu_read_replica_${randomBytes(4).toString('hex')}` };
    await setUpDatabases({ targets: { menu_read: target }, passwords: TEST_ROLE_PASSWORDS, publication: TEST_PUBLICATION });
  }
  const su = new URL(target.adminUrl);
  su.pathname = `/${target.name}`;
  const replica: Replica = {
    name,
    slot: `t_replica_${name.replace(/-/g, '_')}_${randomBytes(3).toString('hex')}`,
    readUrl: roleUrl(target, 'menu_projector', TEST_ROLE_PASSWORDS.menu_projector),
    db: createDb(su.toString(), 3),
    metricsPort: await freePort(),
  };
  replicas.push(replica);
  return replica;
}

/** The projector of `replica` as its own process, in its own process group (SIGKILL reaches exactly it). */
function startProjector(replica: Replica, env: Record<string, string> = {}): ProjectorProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'db/projector/main.ts'], {
    cwd: ROOT,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      NODE_ENV: 'test',
      RESTAURANTS_DATABASE_URL: dbs.roleUrl('menu_projector', 'restaurants'),
      MENU_READ_DATABASE_URL: replica.readUrl,
      MENU_READ_REPLICA: replica.name,
      CDC_SLOT_NAME: replica.slot,
      CDC_PUBLICATION: TEST_PUBLICATION,
      PROJECTOR_METRICS_PORT: String(replica.metricsPort),
      LOG_LEVEL: 'info',
      ...env,
    },
  });
  children.push(child);
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  replica.proc = { child, exited, output: () => output };
  return replica.proc;
}

/** Log lines (pino JSON) of a projector process with `msg`. */
function logLines(proc: ProjectorProcess, msg: string): Array<Record<string, unknown>> {
  return proc
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => l.msg === msg);
}

async function slotOf(slot: string) {
  const res = await dbs.restaurants.raw('SELECT active, active_pid, confirmed_flush_lsn::text AS confirmed FROM pg_replication_slots WHERE slot_name = ?', [
    slot,
  ]);
  return (res.rows[0] as { active: boolean; active_pid: number | null; confirmed: string | null } | undefined) ?? null;
}

async function waitStreaming(replica: Replica, sessions = 1): Promise<void> {
  const proc = replica.proc!;
  await eventually(
    async () => {
      if (proc.child.exitCode !== null) throw new Error(`projector ${replica.name} exited early:\n${proc.output()}`);
      expect(logLines(proc, 'streaming changes').length).toBeGreaterThanOrEqual(sessions);
      expect((await slotOf(replica.slot))?.active).toBe(true);
    },
    60_000,
    100,
  );
}

async function stateOf(replica: Replica) {
  const row = (await replica.db('projector_state').select(replica.db.raw('last_lsn::text AS last_lsn'), 'changes_applied', 'resynced_at').first()) as
    { last_lsn: string; changes_applied: string | number; resynced_at: Date } | undefined;
  return row ? { slot: replica.slot, lastLsn: parseLsn(row.last_lsn), changesApplied: Number(row.changes_applied), resyncedAt: row.resynced_at } : null;
}

/** Every row and version of the replica's read model equals the source (polled until it does). */
async function expectConverged(replica: Replica, timeoutMs = 30_000): Promise<void> {
  await eventually(
    async () => expect({ replica: replica.name, ...(await readModel(replica.db)) }).toEqual({ replica: replica.name, ...(await sourceModel(dbs.restaurants)) }),
    timeoutMs,
    200,
  );
}

/** One sample `name{...labels} value` from the replica projector's /metrics (null: absent). */
async function scrape(replica: Replica, name: string, labels: Record<string, string> = {}): Promise<number | null> {
  const text = await (await fetch(`http://127.0.0.1:${replica.metricsPort}/metrics`)).text();
  const want = { replica: replica.name, slot: replica.slot, ...labels };
  for (const line of text.split('\n')) {
    const m = /^(\w+)\{([^}]*)\} (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...m[2]!.matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(want).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return null;
}

/**
 * Menu changes from `concurrency` connections until stopped: updates (price, status, version),
 * and now and then an item added or removed. Each change comes with a ticket insert in the same
 * database, as the restaurant worker writes for orders: WAL the publication does not carry.
 * `changes` counts the menu row changes committed (the read model's changes_applied counts the same).
 */
function startWriter(opts: { concurrency: number; total?: number }) {
  const pool = new pg.Pool({ connectionString: dbs.urls.restaurants, max: opts.concurrency });
  pools.push(pool);
  const statuses = ['ON_SALE', 'ON_SALE', 'SOLD_OUT', 'HIDDEN'];
  let stopped = false;
  let started = 0;
  let changes = 0;
  const worker = async () => {
    while (!stopped && (opts.total === undefined || started < opts.total)) {
      const n = (started += 1);
      const restaurant = restaurantIdFor(1 + Math.floor(Math.random() * 20));
      await pool.query(`INSERT INTO tickets (ticket_id, order_id, restaurant_id, status, items) VALUES ($1, $1, $2, 'PENDING', '[]')`, [
        `tkt_${randomBytes(6).toString('hex')}`,
        restaurant,
      ]);
      let res: pg.QueryResult;
      if (n % 25 === 0) {
        res = await pool.query(`INSERT INTO menu_items (menu_id, restaurant_id, name, price) VALUES ($1, $2, '새 메뉴', 9000)`, [
          `mnu_x_${randomBytes(6).toString('hex')}`,
          restaurant,
        ]);
      } else if (n % 40 === 0) {
        res = await pool.query(`DELETE FROM menu_items WHERE menu_id = (SELECT menu_id FROM menu_items WHERE menu_id LIKE 'mnu_x_%' LIMIT 1)`);
      } else {
        res = await pool.query(
          `UPDATE menu_items SET price = price + 10, status = $2, version = version + 1, updated_at = now()
            WHERE menu_id = (SELECT menu_id FROM menu_items WHERE restaurant_id = $1 ORDER BY random() LIMIT 1)`,
          [restaurant, statuses[n % statuses.length]],
        );
      }
      changes += res.rowCount ?? 0;
    }
  };
  const done = Promise.all(Array.from({ length: opts.concurrency }, worker));
  return {
    get changes() {
      return changes;
    },
    /** Stops an open-ended writer; returns the changes committed. */
    async stop() {
      stopped = true;
      await done;
      return changes;
    },
    /** Waits for `total` writes; returns the changes committed. */
    async finish() {
      await done;
      return changes;
    },
  };
}

/** SIGTERM (or SIGKILL) to a projector process and its exit. */
async function stopProjector(replica: Replica, signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM') {
  const proc = replica.proc!;
  process.kill(-proc.child.pid!, signal);
  return proc.exited;
}

beforeAll(async () => {
  dbs = await createTestDatabases('replicas');
  await seedRestaurants(dbs.restaurants, { restaurants: 30, itemsPerRestaurant: 8 });
});

afterAll(async () => {
  await killProcessGroups(children);
  await Promise.all(pools.map((p) => p.end()));
  for (const replica of replicas) {
    await dropSlotWhenFree(dbs.restaurants, replica.slot);
    await replica.db.destroy();
  }
  await dbs?.destroy();
});

describe('read replicas, each with its own projector process and slot', () => {
  /** Menu row changes written since both replicas started (both count exactly these). */
  let written = 0;

  it('two replicas converge to exactly the source (every row and version) after a burst of changes', async () => {
    const [one, two] = [await addReplica('read-1'), await addReplica('read-2')];
    startProjector(one);
    startProjector(two);
    await Promise.all([waitStreaming(one), waitStreaming(two)]);
    // Two slots on the one source, one per replica, both streaming.
    const slots = await dbs.restaurants.raw('SELECT slot_name FROM pg_replication_slots WHERE slot_name IN (?, ?) AND active', [one.slot, two.slot]);
    expect(slots.rows).toHaveLength(2);

    const writer = startWriter({ concurrency: 4, total: 1500 });
    written += await writer.finish();
    expect(written).toBeGreaterThan(1000);
    await Promise.all([expectConverged(one), expectConverged(two)]);
    // Exactly once on each: every change counted once in the same transactions as the rows.
    expect(await stateOf(one)).toMatchObject({ changesApplied: written });
    expect(await stateOf(two)).toMatchObject({ changesApplied: written });

    // Each replica's lag on its projector's /metrics, labelled with the replica's name.
    for (const replica of [one, two]) {
      await eventually(async () => {
        expect(await scrape(replica, 'cdc_projector_lag_seconds')).toBe(0);
        expect(await scrape(replica, 'cdc_projector_lag_bytes')).toBe(0);
        expect(await scrape(replica, 'cdc_projector_streaming')).toBe(1);
        expect(await scrape(replica, 'cdc_projector_resyncs_total', { reason: 'first_start' })).toBe(1);
      });
    }
  });

  it('a projector crash (SIGKILL) on one replica: the other keeps streaming, the crashed one comes back exact', async () => {
    const [one, two] = replicas as [Replica, Replica];
    const writer = startWriter({ concurrency: 3 });
    const applied = async (r: Replica) => (await stateOf(r))!.changesApplied;
    await eventually(async () => expect(await applied(two)).toBeGreaterThan(written + 100));
    expect(await stopProjector(two, 'SIGKILL')).toEqual({ code: null, signal: 'SIGKILL' });

    // While replica 2 has no projector, replica 1 still follows the source.
    const oneAtKill = await applied(one);
    await eventually(async () => expect(await applied(one)).toBeGreaterThan(oneAtKill + 100));
    const twoWhileDown = await applied(two);
    expect(await applied(two)).toBe(twoWhileDown);

    startProjector(two);
    await waitStreaming(two);
    await new Promise((r) => setTimeout(r, 500));
    written += await writer.stop();
    await Promise.all([expectConverged(one), expectConverged(two)]);
    expect(await stateOf(one)).toMatchObject({ changesApplied: written });
    expect(await stateOf(two)).toMatchObject({ changesApplied: written });
    // It resumed from its stored position: no snapshot since the first.
    expect(logLines(two.proc!, 're-syncing the read model from a snapshot')).toEqual([]);
  });

  it("a replica joining late, while menu changes and orders run, snapshots and streams from the snapshot's exact point", async () => {
    const writer = startWriter({ concurrency: 3 });
    await new Promise((r) => setTimeout(r, 300));
    const three = await addReplica('read-3');
    startProjector(three);
    await waitStreaming(three);
    const [exported] = logLines(three.proc!, 'created replication slot with exported snapshot; copying');
    const [streaming] = logLines(three.proc!, 'streaming changes');
    // The stream starts exactly where the snapshot was taken.
    expect(streaming!.fromLsn).toBe(exported!.consistentLsn);
    await new Promise((r) => setTimeout(r, 700));
    written += await writer.stop();
    expect(writer.changes).toBeGreaterThan(0);
    await Promise.all(replicas.map((r) => expectConverged(r)));
    expect(await scrape(three, 'cdc_projector_resyncs_total', { reason: 'first_start' })).toBe(1);
  });

  it('a replica whose slot is lost (dropped) re-syncs by itself from a new slot and snapshot, and says so', async () => {
    const two = replicas[1]!;
    const writer = startWriter({ concurrency: 2 });
    // The walsender holds the slot while it streams: end it and drop the slot before the projector reconnects.
    await eventually(
      async () => {
        const slot = await slotOf(two.slot);
        if (!slot) return;
        if (slot.active_pid) await dbs.restaurants.raw('SELECT pg_terminate_backend(?)', [slot.active_pid]);
        await dbs.restaurants.raw('SELECT pg_drop_replication_slot(?)', [two.slot]);
      },
      20_000,
      20,
    );
    await eventually(async () => {
      expect(await scrape(two, 'cdc_projector_resyncs_total', { reason: 'slot_missing' })).toBe(1);
      expect((await slotOf(two.slot))?.active).toBe(true);
    }, 30_000);
    const [warning] = logLines(two.proc!, 're-syncing the read model from a snapshot');
    expect(warning).toMatchObject({ level: 40, reason: 'slot_missing', replica: 'read-2' });
    written += await writer.stop();
    await Promise.all(replicas.map((r) => expectConverged(r)));
  });

  it('a replica far behind re-syncs from a snapshot instead of replaying, and says so', async () => {
    const three = replicas[2]!;
    expect((await stopProjector(three)).code).toBe(0);
    // 5 MB of WAL while its projector is down (logical messages: WAL the publication never carries), and a change.
    await dbs.restaurants.raw("SELECT pg_logical_emit_message(false, 'filler', repeat('x', 1000000)) FROM generate_series(1, 5)");
    await dbs.restaurants.raw('UPDATE menu_items SET price = price + 1, version = version + 1 WHERE menu_id = (SELECT min(menu_id) FROM menu_items)');
    startProjector(three, { CDC_RESYNC_BEHIND_BYTES: String(4 * 1024 * 1024) });
    await waitStreaming(three);
    const [warning] = logLines(three.proc!, 're-syncing the read model from a snapshot');
    expect(warning).toMatchObject({ level: 40, reason: 'far_behind', replica: 'read-3' });
    expect(await scrape(three, 'cdc_projector_resyncs_total', { reason: 'far_behind' })).toBe(1);
    await Promise.all(replicas.map((r) => expectConverged(r)));
  });

  it('a replica that falls far behind while streaming re-syncs instead of working through the backlog', async () => {
    const one = replicas[0]!;
    expect((await stopProjector(one)).code).toBe(0);
    startProjector(one, { CDC_RESYNC_BEHIND_BYTES: String(4 * 1024 * 1024) });
    await waitStreaming(one, 1);
    // Hold its applier: every batch (and idle position) waits for the projector_state row.
    const lock = await one.db.transaction();
    try {
      await lock.raw('SELECT * FROM projector_state FOR UPDATE');
      await dbs.restaurants.raw('UPDATE menu_items SET price = price + 1, version = version + 1 WHERE menu_id = (SELECT max(menu_id) FROM menu_items)');
      await dbs.restaurants.raw("SELECT pg_logical_emit_message(false, 'filler', repeat('x', 1000000)) FROM generate_series(1, 5)");
      // The lag sampler (once a second) sees more than 4 MB between the source and the applied position.
      await eventually(async () => expect(await scrape(one, 'cdc_projector_lag_bytes')).toBeGreaterThan(4 * 1024 * 1024), 15_000, 200);
    } finally {
      await lock.commit();
    }
    await eventually(async () => expect(await scrape(one, 'cdc_projector_resyncs_total', { reason: 'far_behind' })).toBe(1), 30_000, 200);
    const [warning] = logLines(one.proc!, 're-syncing the read model from a snapshot');
    expect(warning).toMatchObject({ level: 40, reason: 'far_behind', replica: 'read-1' });
    await waitStreaming(one, 2);
    await Promise.all(replicas.map((r) => expectConverged(r)));
    for (const r of replicas) expect((await stopProjector(r)).code).toBe(0);
  });
});
