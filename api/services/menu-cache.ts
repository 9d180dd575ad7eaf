import { LRUCache } from 'lru-cache';
import pg from 'pg';
import { Counter, type Registry } from 'prom-client';
import type { Logger } from '../../lib/node/logger';
import { MENU_CHANGES_CHANNEL, parseMenuChangeNotice, type MenuChangeNotice } from '../../db/menu-read/change-notices';

export interface MenuCacheOptions {
  /** The read model's database: the projector notifies changed restaurants there (LISTEN). */
  connectionString: string;
  /** Menus kept (a restaurant's public and full menus count as two). */
  maxEntries: number;
  /** Upper bound on how long a cached menu is served, whatever the notices say. */
  ttlMs: number;
  logger: Logger;
  registry?: Registry;
  /** Pause between attempts to listen again after the connection is lost. */
  reconnectMs?: number;
}

interface Flight {
  promise: Promise<string>;
  /** A change arrived (or the cache was cleared) while this load ran: do not keep its result. */
  stale: boolean;
}

/**
 * Serialized menus, kept fresh by change data capture: the projector sends the ids of the
 * restaurants each batch changed (db/menu-read/change-notices.ts) and this drops exactly those.
 * Served only while the LISTEN connection is up; when it drops (the read Postgres restarts) the cache
 * empties and every read goes to the database until it listens again, because notices sent meanwhile
 * are lost. A load that a change overtakes is returned to its caller but not kept, so the cache never
 * holds a menu older than the last notice for it. Concurrent misses for one menu share one query.
 */
export class MenuCache {
  private readonly entries: LRUCache<string, string>;
  private readonly flights = new Map<string, Flight>();
  private listening = false;
  /** How many times a LISTEN connection was established (the first one included). */
  private listens = 0;
  private stopped = false;
  private client: pg.Client | undefined;
  private loop: Promise<void> | undefined;
  private readonly reads: Counter<'result'> | undefined;
  private readonly notices: Counter<'kind'> | undefined;

  constructor(private readonly opts: MenuCacheOptions) {
    this.entries = new LRUCache<string, string>({
      max: opts.maxEntries,
      ttl: opts.ttlMs,
      maxSize: 256 * 1024 * 1024,
      sizeCalculation: (body) => body.length || 1,
    });
    if (opts.registry) {
      this.reads = new Counter({
        name: 'menu_cache_reads_total',
        help: 'Menu reads by cache result (hit, miss, bypass while not listening)',
        labelNames: ['result'],
        registers: [opts.registry],
      });
      this.notices = new Counter({
        name: 'menu_cache_notices_total',
        help: 'Change notices from the projector (restaurants: ids dropped; all: cache cleared)',
        labelNames: ['kind'],
        registers: [opts.registry],
      });
    }
  }

  /** Starts listening (in the background; reads bypass the cache until it listens). */
  start(): void {
    this.loop ??= this.listenLoop();
  }

  /** Resolves once the cache listens (tests and the benchmark wait for it). */
  async ready(timeoutMs = 10000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (!this.listening) {
      if (Date.now() > until) throw new Error('menu cache: not listening for change notices');
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  get isListening(): boolean {
    return this.listening;
  }

  get listenCount(): number {
    return this.listens;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.client?.end().catch(() => undefined);
    await this.loop;
  }

  /** The menu body for this key, from the cache or from `load` (whose result is kept if still current). */
  get(restaurantId: string, variant: 'public' | 'full', load: () => Promise<string>): Promise<string> {
    if (!this.listening) {
      this.reads?.inc({ result: 'bypass' });
      return load();
    }
    const key = `${variant}:${restaurantId}`;
    const hit = this.entries.get(key);
    if (hit !== undefined) {
      this.reads?.inc({ result: 'hit' });
      return Promise.resolve(hit);
    }
    this.reads?.inc({ result: 'miss' });
    const joined = this.flights.get(key);
    if (joined) return joined.promise;
    const flight: Flight = { stale: false, promise: Promise.resolve('') };
    flight.promise = load()
      .then((body) => {
        if (!flight.stale && this.listening) this.entries.set(key, body);
        return body;
      })
      .finally(() => {
        if (this.flights.get(key) === flight) this.flights.delete(key);
      });
    this.flights.set(key, flight);
    return flight.promise;
  }

  /** Applies one notice from the projector (public for tests). */
  apply(notice: MenuChangeNotice): void {
    if ('all' in notice) {
      this.notices?.inc({ kind: 'all' });
      this.clear();
      return;
    }
    this.notices?.inc({ kind: 'restaurants' });
    for (const restaurantId of notice.restaurants) {
      for (const variant of ['public', 'full']) this.forget(`${variant}:${restaurantId}`);
    }
  }

  private forget(key: string): void {
    this.entries.delete(key);
    const flight = this.flights.get(key);
    if (flight) {
      // Later readers start a fresh load instead of joining one that may predate the change.
      flight.stale = true;
      this.flights.delete(key);
    }
  }

  private clear(): void {
    this.entries.clear();
    for (const flight of this.flights.values()) flight.stale = true;
    this.flights.clear();
  }

  private async listenLoop(): Promise<void> {
    const { logger } = this.opts;
    let failures = 0;
    while (!this.stopped) {
      const client = new pg.Client({ connectionString: this.opts.connectionString, keepAlive: true, application_name: 'api-menu-cache' });
      const lost = new Promise<string>((resolve) => {
        client.on('error', (err) => resolve(err.message));
        client.on('end', () => resolve('connection ended'));
      });
      client.on('notification', (msg) => {
        if (msg.channel === MENU_CHANGES_CHANNEL) this.apply(parseMenuChangeNotice(msg.payload));
      });
      try {
        await client.connect();
        await client.query(`LISTEN ${MENU_CHANGES_CHANNEL}`);
        this.client = client;
        // Whatever changed before this point was never announced to us.
        this.clear();
        this.listening = true;
        this.listens++;
        failures = 0;
        logger.info({ channel: MENU_CHANGES_CHANNEL }, 'menu cache listening for change notices');
        const why = await lost;
        if (!this.stopped) logger.warn({ reason: why }, 'menu cache stopped listening; reads go to the database until it listens again');
      } catch (err) {
        failures++;
        if (!this.stopped && failures <= 3) logger.warn({ err: (err as Error).message }, 'menu cache cannot listen yet; retrying');
      } finally {
        this.listening = false;
        this.clear();
        this.client = undefined;
        await client.end().catch(() => undefined);
      }
      if (!this.stopped) await new Promise((r) => setTimeout(r, this.opts.reconnectMs ?? 1000));
    }
  }
}
