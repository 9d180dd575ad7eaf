import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createDb, type Db } from '../../db/knex';
import { createMenuProjector, type MenuProjector } from '../../db/projector/projector';
import { createLogger } from '../../lib/node/logger';
import { createRegistry } from '../../lib/node/metrics';
import { TEST_PUBLICATION, type TestDatabases } from './databases';
import { untilPasses } from './retry';

export interface TestProjector {
  projector: MenuProjector;
  slotName: string;
  /** Resolves once the read model holds every change committed on the source so far. */
  waitForCatchUp(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The real CDC projector, in-process, on a slot of its own (slots are cluster-wide), logged in as its
 * role (menu_projector: REPLICATION, SELECT on the published tables, writes menu_read) as in production.
 */
export async function startTestProjector(dbs: TestDatabases, label: string): Promise<TestProjector> {
  const slotName = `t_${label
    .replace(/[^a-z0-9]/gi, '')
    .toLowerCase()
    .slice(0, 20)}_${randomBytes(4).toString('hex')}`;
  const readDb = createDb(dbs.roleUrl('menu_projector', 'menu_read'), 4, { applicationName: 'menu-projector' });
  const projector = createMenuProjector({
    sourceUrl: dbs.roleUrl('menu_projector', 'restaurants'),
    readDb,
    slotName,
    publicationName: TEST_PUBLICATION,
    logger: createLogger('projector-test', process.env.TEST_LOG_LEVEL ?? 'silent'),
    registry: createRegistry('projector'),
  });
  await projector.start();
  const sourceLsn = async () => {
    const c = new pg.Client({ connectionString: dbs.urls.restaurants });
    await c.connect();
    try {
      return (await c.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0]!.lsn;
    } finally {
      await c.end();
    }
  };
  return {
    projector,
    slotName,
    async waitForCatchUp(timeoutMs = 15000) {
      await projector.waitForLsn(await sourceLsn(), timeoutMs);
    },
    async stop() {
      await projector.stop();
      await readDb.destroy();
      const c = new pg.Client({ connectionString: dbs.urls.restaurants });
      await c.connect();
      try {
        // The walsender may still show the slot active for a moment after the stream closed.
        for (let attempt = 0; attempt < 50; attempt++) {
          const { rows } = await c.query<{ active: boolean }>('SELECT active FROM pg_replication_slots WHERE slot_name = $1', [slotName]);
          if (rows.length === 0) break;
          if (!rows[0]!.active) {
            await c.query('SELECT pg_drop_replication_slot($1)', [slotName]);
            break;
          }
          await new Promise((r) => setTimeout(r, 100));
        }
      } finally {
        await c.end();
      }
    },
  };
}

/** Drops a slot once its walsender has let go of it (a killed projector's stream takes a moment to close). */
export async function dropSlotWhenFree(source: Db, slot: string): Promise<void> {
  await untilPasses(() => source.raw('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = ?', [slot]), 10_000, 200);
}
