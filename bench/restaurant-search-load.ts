/**
 * Restaurant search under load, for `npm run bench` (bench/lunch-rush.ts runs it as its `search`
 * phase): GET /restaurants?q=&category=&limit=50 against the running stack's API over HTTP,
 * closed loop (autocannon) at each concurrency, a fixed mix of name searches (common and rare
 * words, a rare two-word one, one that matches nothing), category filters and both together.
 * Each connection asks for the first page of the mix's next search, then for up to three more pages
 * along the `nextCursor` it was given (a new search's first page when there is none), so about
 * three requests in four follow a cursor, as `npm run bench:search` times them one at a time.
 *
 * The words are those of the names the stack's seed generated: the bulk seed above 20,000
 * restaurants (db/bulk-seed.ts: "엄마손 치킨 강남점", prefix x kind x place), the row-by-row seed
 * below it (db/seed.ts: "강남 분식 40호점"); which one is read from the read model's names.
 *
 * Target (issue #17): search queries/s with p99 < 20 ms. Judged for each kind of search (q,
 * category, q+category): the most queries/s of that kind at a concurrency whose p99 for it stays
 * under 20 ms with no non-2xx answer and no error; and for the whole mix, at a concurrency where
 * every kind was.
 */
import os from 'node:os';
import type autocannon from 'autocannon';
import type { Db } from '../db/knex';
import type { RestaurantCategory } from '../lib/workflow-safe/domain';
import { runHttpSequence, type HttpRun } from './lib/http-load';
import { round, summarize } from './lib/stats';

export const SEARCH_TARGET_P99_MS = 20;
/** Restaurants per page, as a client's list asks. */
export const SEARCH_PAGE = 50;
/** Pages a connection follows along nextCursor after each first page. */
export const SEARCH_FOLLOWS = 3;

export type SearchKind = 'q' | 'category' | 'q+category';
export const SEARCH_KINDS: SearchKind[] = ['q', 'category', 'q+category'];

export interface SearchQuery {
  q?: string;
  category?: RestaurantCategory;
  /** Chosen to match nothing: an empty first page is what it should get. */
  none?: true;
}

export type SeedShape = 'bulk' | 'small';

/**
 * The searches, by the seed that named the restaurants. Shares of all restaurants in brackets.
 * bulk (db/bulk-seed.ts): 30 prefixes x 29 kinds x 30 places, drawn independently.
 * small (db/seed.ts): 10 places x 8 kinds by the restaurant's number, so a place goes only with
 * the kinds of the same parity (r mod 40): '홍대 치킨' exists, '강남 치킨' does not.
 */
export const SEARCH_MIXES: Record<SeedShape, SearchQuery[]> = {
  bulk: [
    { q: '치킨' }, // a kind (3.4 %)
    { q: '피자' }, // two kinds, 피자 and 화덕피자 (6.9 %)
    { q: '강남점' }, // a place (3.3 %)
    { q: '떡볶이' }, // a kind, three syllables (3.4 %)
    { q: '엄마손' }, // a prefix, the seed's brand (3.3 %)
    { q: '홍' }, // one character: 홍대 (3.3 %)
    { q: '치킨 강남' }, // rare, two words, kind and place like bench:search's '교촌치킨 강남' (0.11 %)
    { q: '엄마손 국밥' }, // rare, two words, prefix and kind (0.11 %)
    { q: '없는가게', none: true },
    { category: 'chicken' }, // 치킨, 통닭, 닭강정 (10.3 %)
    { category: 'late_night' }, // (10.3 %)
    { category: 'cafe' }, // (6.9 %)
    { q: '치킨', category: 'chicken' }, // (3.4 %)
    { q: '강남', category: 'cafe' }, // rare (0.23 %)
    { q: '떡볶이', category: 'korean', none: true }, // 떡볶이 is a snack place
  ],
  small: [
    { q: '치킨' }, // a kind (12.5 %)
    { q: '분식' }, // a kind (12.5 %)
    { q: '강남' }, // a place (10 %)
    { q: '이태원' }, // a place, three syllables (10 %)
    { q: '호점' }, // every name (100 %)
    { q: '홍' }, // one character: 홍대 (10 %)
    { q: '홍대 치킨' }, // rare, two words (2.5 %)
    { q: '강남 국밥' }, // rare, two words (2.5 %)
    { q: '없는가게', none: true },
    { category: 'chicken' }, // (12.5 %)
    { category: 'late_night' }, // (12.5 %)
    { category: 'korean' }, // (50 %)
    { q: '치킨', category: 'chicken' }, // (12.5 %)
    { q: '강남', category: 'snack' }, // rare (2.5 %)
    { q: '치킨', category: 'korean', none: true },
  ],
};

export function kindOf(s: SearchQuery): SearchKind {
  return s.q !== undefined && s.category !== undefined ? 'q+category' : s.q !== undefined ? 'q' : 'category';
}

/** How the report names a search: `q=치킨&category=chicken`. */
export function searchLabel(s: SearchQuery): string {
  return [s.q !== undefined ? `q=${s.q}` : '', s.category !== undefined ? `category=${s.category}` : ''].filter(Boolean).join('&');
}

export function searchPath(s: SearchQuery, cursor?: string): string {
  const params = new URLSearchParams();
  if (s.q !== undefined) params.set('q', s.q);
  if (s.category !== undefined) params.set('category', s.category);
  params.set('limit', String(SEARCH_PAGE));
  if (cursor) params.set('cursor', cursor);
  return `/restaurants?${params.toString()}`;
}

/** The seed that named these restaurants: db/seed.ts's names end in 호점, the bulk seed's never do. */
export function seedShapeOf(names: string[]): SeedShape {
  const small = names.filter((n) => n.endsWith('호점')).length;
  return small * 2 > names.length ? 'small' : 'bulk';
}

/** The seed shape of a read model, from its 200 highest ids (a bulk seed over a small one fills those). */
export async function readSeedShape(readDb: Db): Promise<SeedShape> {
  const rows: Array<{ name: string }> = await readDb('restaurants_read').select('name').orderBy('restaurant_id', 'desc').limit(200);
  return seedShapeOf(rows.map((r) => r.name));
}

/** One connection's state, autocannon's per-connection context (fresh with every pass over the steps). */
export interface SearchContext {
  search?: SearchQuery;
  cursor?: string | null;
  follow?: boolean;
}

/** What one answer was: its search, whether it followed a cursor, how many restaurants it listed. */
export interface SearchAnswer {
  search: SearchQuery;
  follow: boolean;
  rows: number;
}

/**
 * The requests of every connection. Step 0 starts the mix's next search (the mix in turn, shared by
 * all connections); steps 1..SEARCH_FOLLOWS follow the last answer's nextCursor, or start the next
 * search when there is none (the last page, or an error).
 */
export function searchSequence(mix: SearchQuery[]) {
  if (mix.length === 0) throw new Error('an empty search mix');
  let next = 0;
  return {
    nextPath(ctx: SearchContext, step: number): string {
      if (step > 0 && ctx.search && ctx.cursor) {
        ctx.follow = true;
        return searchPath(ctx.search, ctx.cursor);
      }
      ctx.search = mix[next++ % mix.length]!;
      ctx.cursor = undefined;
      ctx.follow = false;
      return searchPath(ctx.search);
    },
    /** Keeps the answer's nextCursor for the connection's next step. */
    answered(ctx: SearchContext, status: number, body: string): SearchAnswer | undefined {
      if (!ctx.search) return undefined;
      // A regular expression, not JSON.parse: autocannon joins the body's chunks as strings, and
      // the cursor (an id) is ASCII whatever becomes of a name split between chunks.
      const cursor = /"nextCursor":\s*(?:"([^"]*)"|null)/.exec(body)?.[1];
      ctx.cursor = status >= 200 && status < 300 && cursor ? cursor : null;
      return { search: ctx.search, follow: ctx.follow ?? false, rows: status >= 200 && status < 300 ? body.split('"restaurantId"').length - 1 : 0 };
    },
  };
}

/** The autocannon requests of `searchSequence`, each answer told to `onAnswered` before autocannon's own response event. */
export function searchRequests(mix: SearchQuery[], onAnswered: (a: SearchAnswer | undefined) => void): autocannon.Request[] {
  const seq = searchSequence(mix);
  return Array.from({ length: 1 + SEARCH_FOLLOWS }, (_, step) => ({
    method: 'GET' as const,
    setupRequest: (req: autocannon.Request, ctx: object) => ({ ...req, path: seq.nextPath(ctx as SearchContext, step) }),
    onResponse: (status: number, body: string, ctx: object) => onAnswered(seq.answered(ctx as SearchContext, status, body)),
  }));
}

export interface SearchSample extends SearchAnswer {
  status: number;
  ms: number;
}

export interface SearchFigures {
  requests: number;
  perSec: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  non2xx: number;
  /** Share of the requests that followed a cursor. */
  followed: number;
}

export interface SearchQueryFigures extends SearchFigures {
  search: string;
  kind: SearchKind;
  /** Restaurants on its first pages, on average (null: no first page answered). */
  firstPageRows: number | null;
  none: boolean;
}

export interface SearchRun {
  connections: number;
  seconds: number;
  all: SearchFigures;
  byKind: Record<SearchKind, SearchFigures>;
  byQuery: SearchQueryFigures[];
  /** autocannon's: connection errors and requests that timed out (10 s), which have no sample. */
  errors: number;
  timeouts: number;
  loadavg: string;
}

function figures(samples: SearchSample[], seconds: number): SearchFigures {
  const ms = summarize(samples.map((s) => s.ms));
  return {
    requests: samples.length,
    perSec: round(samples.length / seconds, 1),
    p50Ms: round(ms.p50, 1),
    p99Ms: round(ms.p99, 1),
    maxMs: round(ms.max, 1),
    non2xx: samples.filter((s) => s.status < 200 || s.status >= 300).length,
    followed: samples.length > 0 ? round(samples.filter((s) => s.follow).length / samples.length, 2) : 0,
  };
}

/** A run's figures from its samples: the whole mix, each kind, each search (in the mix's order). Exported for tests. */
export function searchRunFigures(
  mix: SearchQuery[],
  samples: SearchSample[],
  http: Pick<HttpRun, 'connections' | 'seconds' | 'errors' | 'timeouts'>,
  loadavg = '',
): SearchRun {
  const byKind = Object.fromEntries(
    SEARCH_KINDS.map((k) => [
      k,
      figures(
        samples.filter((s) => kindOf(s.search) === k),
        http.seconds,
      ),
    ]),
  ) as Record<SearchKind, SearchFigures>;
  const byQuery = mix.map((search) => {
    const mine = samples.filter((s) => s.search === search);
    const first = mine.filter((s) => !s.follow && s.status >= 200 && s.status < 300);
    return {
      search: searchLabel(search),
      kind: kindOf(search),
      ...figures(mine, http.seconds),
      firstPageRows: first.length > 0 ? round(first.reduce((n, s) => n + s.rows, 0) / first.length, 1) : null,
      none: search.none ?? false,
    };
  });
  return {
    connections: http.connections,
    seconds: round(http.seconds, 1),
    all: figures(samples, http.seconds),
    byKind,
    byQuery,
    errors: http.errors,
    timeouts: http.timeouts,
    loadavg,
  };
}

export interface SearchTarget {
  /** The most queries/s of this kind at a concurrency whose p99 stays under the target (null: none did). */
  perSec: number | null;
  connections: number | null;
  p99Ms: number | null;
  met: boolean;
  /** The lowest p99 of any run, and where: what was closest when none met it. */
  bestP99Ms: number | null;
  bestP99Connections: number | null;
}

export type SearchTargets = Record<SearchKind | 'all', SearchTarget>;

export interface SearchResult {
  restaurants: number;
  seedShape: SeedShape;
  mix: string[];
  seconds: number;
  runs: SearchRun[];
  targets: SearchTargets;
}

/** Exported for tests. */
export function judgeSearch(runs: SearchRun[]): SearchTargets {
  const under = (f: SearchFigures) => f.requests === 0 || (f.p99Ms < SEARCH_TARGET_P99_MS && f.non2xx === 0);
  const judge = (pick: (r: SearchRun) => SearchFigures, wholeMix = false): SearchTarget => {
    const measured = runs.filter((r) => pick(r).requests > 0);
    // The whole mix counts at a concurrency only if each kind in it was under the target there too.
    const good = measured.filter((r) => under(pick(r)) && r.errors + r.timeouts === 0 && (!wholeMix || SEARCH_KINDS.every((k) => under(r.byKind[k]))));
    const best = good.sort((a, b) => pick(b).perSec - pick(a).perSec)[0];
    const closest = [...measured].sort((a, b) => pick(a).p99Ms - pick(b).p99Ms)[0];
    return {
      perSec: best ? pick(best).perSec : null,
      connections: best?.connections ?? null,
      p99Ms: best ? pick(best).p99Ms : null,
      met: !!best,
      bestP99Ms: closest ? pick(closest).p99Ms : null,
      bestP99Connections: closest?.connections ?? null,
    };
  };
  return {
    q: judge((r) => r.byKind.q),
    category: judge((r) => r.byKind.category),
    'q+category': judge((r) => r.byKind['q+category']),
    all: judge((r) => r.all, true),
  };
}

export async function runRestaurantSearch(opts: {
  apiUrl: string;
  mix: SearchQuery[];
  seedShape: SeedShape;
  restaurants: number;
  connections: number[];
  seconds: number;
  /** Seconds of the same mix before the first run, not measured (the API's name statistics, pools, JIT). */
  warmupSeconds?: number;
  log: (msg: string) => void;
  /** Called around each measured run (the caller's timeline). */
  phase?: (label: string, startMs: number, endMs: number) => void;
}): Promise<SearchResult> {
  const { apiUrl, mix, log } = opts;
  const warmup = opts.warmupSeconds ?? 2;
  if (warmup > 0)
    await runHttpSequence({
      label: 'search warm-up',
      baseUrl: apiUrl,
      requests: searchRequests(mix, () => undefined),
      connections: Math.min(...opts.connections),
      seconds: warmup,
      onAnswer: () => undefined,
    });
  const runs: SearchRun[] = [];
  for (const connections of opts.connections) {
    const samples: SearchSample[] = [];
    let answered: SearchAnswer | undefined;
    const start = Date.now();
    const http = await runHttpSequence({
      label: 'search',
      baseUrl: apiUrl,
      requests: searchRequests(mix, (a) => (answered = a)),
      connections,
      seconds: opts.seconds,
      onAnswer: (status, ms) => {
        if (answered) samples.push({ ...answered, status, ms });
        answered = undefined;
      },
    });
    opts.phase?.(`search c${connections}`, start, Date.now());
    const run = searchRunFigures(mix, samples, http, os.loadavg()[0]!.toFixed(2));
    runs.push(run);
    const k = run.byKind;
    log(
      `search x${connections}: ${run.all.perSec}/s p50 ${run.all.p50Ms} p99 ${run.all.p99Ms} ms; q ${k.q.perSec}/s p99 ${k.q.p99Ms} ms; ` +
        `category ${k.category.perSec}/s p99 ${k.category.p99Ms} ms; q+category ${k['q+category'].perSec}/s p99 ${k['q+category'].p99Ms} ms; ` +
        `${Math.round(run.all.followed * 100)} % followed a cursor; non-2xx ${run.all.non2xx}, errors ${run.errors}, timeouts ${run.timeouts}`,
    );
  }
  return {
    restaurants: opts.restaurants,
    seedShape: opts.seedShape,
    mix: mix.map(searchLabel),
    seconds: opts.seconds,
    runs,
    targets: judgeSearch(runs),
  };
}

// ---------------------------------------------------------------------------------------------
// Flags, report, targets

export const SEARCH_FLAGS = ['search-connections', 'search-seconds'];

export const SEARCH_HELP = `  --search-connections LIST    concurrencies of the restaurant-search mix (bench/restaurant-search-load.ts:
                               GET /restaurants?q=&category=, first pages and pages along nextCursor, on
                               the first replica's API; default 1,4,16; quick 1,4)
  --search-seconds N           seconds per concurrency (default 5; quick 3), after a 2 s warm-up
`;

/** The search phase's settings from the bench's flags (`one` = the flag's last value). */
export function searchSettings(one: (flag: string) => string | undefined, quick: boolean): { connections: number[]; seconds: number } {
  const given = one('search-connections');
  // One connection first: a customer's search alone, which two shared cores can still answer in 20 ms.
  const connections = (given ?? (quick ? '1,4' : '1,4,16')).split(',').map(Number);
  if (connections.length === 0 || !connections.every((c) => Number.isInteger(c) && c > 0))
    throw new Error('--search-connections takes whole numbers above 0, e.g. 4,16,64');
  const seconds = Number(one('search-seconds') ?? (quick ? 3 : 5));
  if (!(seconds > 0)) throw new Error('--search-seconds takes a positive number');
  return { connections, seconds };
}

const conns = (n: number) => `${n} connection${n === 1 ? '' : 's'}`;

const cell = (f: SearchFigures, width: number) => `${f.perSec.toFixed(0).padStart(width)} ${String(f.p50Ms).padStart(5)} ${String(f.p99Ms).padStart(6)}`;

/** The target's verdict in words, for the report and the TARGETS table. */
function targetText(t: SearchTarget): string {
  if (t.met) return `${t.perSec}/s at ${conns(t.connections!)} (p99 ${t.p99Ms} ms)`;
  return t.bestP99Ms === null ? 'not measured' : `no concurrency under it (lowest p99 ${t.bestP99Ms} ms, at ${conns(t.bestP99Connections!)})`;
}

const KIND_NAMES: Record<SearchKind | 'all', string> = { q: 'q', category: 'category', 'q+category': 'q+category', all: 'whole mix' };

/** The report's lines for the search runs. */
export function searchReport(r: SearchResult): string[] {
  const lines = [
    `RESTAURANT SEARCH: GET /restaurants?…&limit=${SEARCH_PAGE} over ${r.restaurants} restaurants named by the ${r.seedShape} seed, ${r.mix.length} searches in turn; ` +
      `each connection asks for a first page, then up to ${SEARCH_FOLLOWS} pages along nextCursor; autocannon, ${r.seconds} s per concurrency (ms)`,
    `  mix: ${r.mix.join(', ')}`,
    `  conns |  all/s   p50    p99 |    q/s   p50    p99 | category/s   p50    p99 | q+category/s   p50    p99 | cursor  non-2xx  load`,
  ];
  for (const run of r.runs) {
    const k = run.byKind;
    lines.push(
      `  ${String(run.connections).padStart(5)} |${cell(run.all, 7)} |${cell(k.q, 7)} |${cell(k.category, 11)} |${cell(k['q+category'], 13)} | ` +
        `${`${Math.round(run.all.followed * 100)}%`.padStart(6)} ${String(run.all.non2xx + run.errors + run.timeouts).padStart(8)}  ${run.loadavg}`,
    );
  }
  for (const run of r.runs) {
    const slowest = [...run.byQuery].filter((q) => q.requests > 0).sort((a, b) => b.p99Ms - a.p99Ms)[0];
    if (slowest)
      lines.push(
        `  slowest search at ${conns(run.connections)}: ${slowest.search} p50 ${slowest.p50Ms} p99 ${slowest.p99Ms} ms ` +
          `(${slowest.requests} requests, ${slowest.firstPageRows ?? '-'} restaurants on a first page)`,
      );
  }
  // A search meant to find restaurants that found none says the mix does not fit these names.
  const empty = [...new Set(r.runs.flatMap((run) => run.byQuery.filter((q) => !q.none && q.firstPageRows === 0).map((q) => q.search)))];
  if (empty.length > 0) lines.push(`  !! searches that found no restaurant although the ${r.seedShape} seed's names should hold them: ${empty.join(', ')}`);
  const t = r.targets;
  lines.push(
    `  target search p99 < ${SEARCH_TARGET_P99_MS} ms (issue #17), the most queries/s under it (the whole mix: where every kind is): ` +
      (['q', 'category', 'q+category', 'all'] as const).map((k) => `${KIND_NAMES[k]} ${targetText(t[k])} (${t[k].met ? 'met' : 'NOT met'})`).join('; '),
  );
  return lines;
}

/** The rows of the benchmark's TARGETS table: figure, at least, aim, measured, verdict. */
export function searchTargetRows(t: SearchTargets | undefined): string[][] {
  return (['q', 'category', 'q+category', 'all'] as const).map((k) => [
    `search ${KIND_NAMES[k]}: queries/s with p99 < ${SEARCH_TARGET_P99_MS} ms (issue #17)`,
    `p99 < ${SEARCH_TARGET_P99_MS} ms`,
    `p99 < ${SEARCH_TARGET_P99_MS} ms`,
    t
      ? t[k].met
        ? `${t[k].perSec}/s at ${t[k].connections} conns, p99 ${t[k].p99Ms} ms`
        : t[k].bestP99Ms === null
          ? '-'
          : `lowest p99 ${t[k].bestP99Ms} ms`
      : '-',
    t ? (t[k].bestP99Ms === null ? 'not measured' : t[k].met ? 'met' : 'MISSED') : 'not measured',
  ]);
}
