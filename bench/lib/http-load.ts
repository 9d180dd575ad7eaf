import autocannon from 'autocannon';

// Closed-loop HTTP load with autocannon (keep-alive connections, each sending its next request as
// soon as the previous answer arrives): the throughput at a given concurrency and its latency.
// Sweeping the number of connections finds both the saturation throughput and the highest
// throughput whose p99 stays under a latency objective.

export interface HttpRun {
  label: string;
  connections: number;
  seconds: number;
  requestsPerSec: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  non2xx: number;
  errors: number;
  timeouts: number;
}

export async function runHttp(opts: {
  label: string;
  baseUrl: string;
  path: () => string;
  connections: number;
  seconds: number;
  overallRate?: number;
}): Promise<HttpRun> {
  const result = await autocannon({
    url: opts.baseUrl,
    connections: opts.connections,
    duration: opts.seconds,
    ...(opts.overallRate ? { overallRate: opts.overallRate } : {}),
    timeout: 10,
    requests: [{ method: 'GET', setupRequest: (req) => ({ ...req, path: opts.path() }) }],
  });
  return toRun(opts.label, opts.connections, result);
}

/** A run in the background (e.g. reads while orders and menu updates run); stop() ends it early. */
export function startHttp(opts: { baseUrl: string; path: () => string; connections: number; overallRate: number; seconds: number }): {
  done: Promise<HttpRun>;
  stop(): void;
} {
  let resolve!: (r: HttpRun) => void;
  let reject!: (e: Error) => void;
  const done = new Promise<HttpRun>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  const instance = autocannon(
    {
      url: opts.baseUrl,
      connections: opts.connections,
      duration: opts.seconds,
      overallRate: opts.overallRate,
      timeout: 10,
      requests: [{ method: 'GET', setupRequest: (req) => ({ ...req, path: opts.path() }) }],
    },
    (err, result) => {
      if (err) return reject(err);
      resolve(toRun('background', opts.connections, result));
    },
  );
  return { done, stop: () => instance.stop() };
}

function toRun(label: string, connections: number, result: autocannon.Result): HttpRun {
  return {
    label,
    connections,
    seconds: result.duration,
    requestsPerSec: result.requests.total / result.duration,
    p50Ms: result.latency.p50,
    p90Ms: result.latency.p90,
    p99Ms: result.latency.p99,
    maxMs: result.latency.max,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
  };
}

/**
 * A closed-loop run in which every connection sends `requests` in turn, over and over (autocannon's
 * request sequence: each step's setupRequest and onResponse see the connection's context, which
 * starts afresh with each pass). `onAnswer` gets each response's status and time in ms, right after
 * that request's own onResponse (autocannon calls both for one response in one go).
 */
export async function runHttpSequence(opts: {
  label: string;
  baseUrl: string;
  requests: autocannon.Request[];
  connections: number;
  seconds: number;
  onAnswer: (statusCode: number, ms: number) => void;
}): Promise<HttpRun> {
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      { url: opts.baseUrl, connections: opts.connections, duration: opts.seconds, timeout: 10, requests: opts.requests },
      (err, result) => (err ? reject(err) : resolve(toRun(opts.label, opts.connections, result))),
    );
    instance.on('response', (_client, statusCode, _bytes, responseTime) => opts.onAnswer(statusCode, responseTime));
  });
}
