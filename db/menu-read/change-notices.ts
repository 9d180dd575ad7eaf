import type { Knex } from 'knex';

// The contract of the menu_read database's change notices (channel, payload format, sending and
// parsing), shared by the side that sends them (db/projector) and the side that listens (the API's
// menu cache); neither imports the other.

/**
 * The read model tells its readers which restaurants' menus changed, so an API replica can cache
 * menus and drop exactly the stale ones (api/services/menu-cache.ts). Sent with pg_notify inside
 * the projector's own transaction: Postgres delivers it at commit, never for a rolled-back batch,
 * and after the rows are visible to a new query.
 */
export const MENU_CHANGES_CHANNEL = 'menu_read_changes';

/** `all`: forget every cached menu (a truncate or a re-sync from snapshot). */
export type MenuChangeNotice = { restaurants: string[] } | { all: true };

// Postgres caps a payload at 8,000 bytes; past this many restaurants one "all" is cheaper anyway.
const MAX_PAYLOAD_BYTES = 7000;
const MAX_LISTED_RESTAURANTS = 2000;

export async function notifyMenuChanges(trx: Knex.Transaction, changed: Iterable<string> | 'all'): Promise<void> {
  const ids = changed === 'all' ? [] : [...new Set(changed)];
  if (changed !== 'all' && ids.length === 0) return;
  const notices: MenuChangeNotice[] = [];
  if (changed === 'all' || ids.length > MAX_LISTED_RESTAURANTS) {
    notices.push({ all: true });
  } else {
    let chunk: string[] = [];
    let bytes = 0;
    for (const id of ids) {
      if (bytes + id.length + 3 > MAX_PAYLOAD_BYTES && chunk.length > 0) {
        notices.push({ restaurants: chunk });
        chunk = [];
        bytes = 0;
      }
      chunk.push(id);
      bytes += Buffer.byteLength(id) + 3;
    }
    notices.push({ restaurants: chunk });
  }
  await trx.raw(`SELECT pg_notify(?, payload) FROM unnest(?::text[]) AS payload`, [MENU_CHANGES_CHANNEL, notices.map((n) => JSON.stringify(n))]);
}

/** Parses a notice; anything unreadable means "forget everything" (safe, only slower). */
export function parseMenuChangeNotice(payload: string | undefined): MenuChangeNotice {
  try {
    const parsed = JSON.parse(payload ?? '') as Partial<{ restaurants: unknown; all: unknown }>;
    if (Array.isArray(parsed.restaurants) && parsed.restaurants.every((r) => typeof r === 'string')) return { restaurants: parsed.restaurants as string[] };
  } catch {
    // fall through
  }
  return { all: true };
}
