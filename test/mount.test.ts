import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { z } from 'zod';
import { errorHandler } from '../api/errors';
import { mountApi } from '../api/mount';
import { component, defineRoute, type Handlers } from '../api/route';
import { createLogger } from '../lib/node/logger';

// The wiring of a route table (api/mount.ts): its inputs are validated before the handler runs, and
// with checkResponses (on under NODE_ENV=test, so in every API test) an answer that is not what the
// route documents is a 500 instead of a silent drift from the OpenAPI document.

const Thing = component('Thing', z.strictObject({ id: z.string(), count: z.number().int() }));
const table = {
  getThing: defineRoute({
    method: 'get',
    path: '/things/:thingId',
    tag: 'Menus',
    summary: 'A thing',
    access: 'anyone',
    query: z.object({ mode: z.enum(['good', 'extra-field', 'wrong-type', 'undocumented-status']).optional() }).strict(),
    responses: { 200: { description: 'The thing', body: Thing } },
  }),
};

const handlers: Handlers<typeof table> = {
  async getThing({ params, query }) {
    const thing = { id: params.thingId, count: 1 };
    // Deliberately off-contract replies, as a service that drifted would give.
    if (query.mode === 'extra-field') return { status: 200, body: { ...thing, secret: 'x' } as typeof thing };
    if (query.mode === 'wrong-type') return { status: 200, body: { ...thing, count: '1' } as unknown as typeof thing };
    if (query.mode === 'undocumented-status') return { status: 201 as 200, body: thing };
    return { status: 200, body: thing };
  },
};

async function serve(checkResponses: boolean): Promise<{ base: string; server: Server }> {
  const app = express();
  app.use(mountApi(table, handlers, { checkResponses }));
  app.use(errorHandler(createLogger('mount-test', 'silent')));
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

describe('mounting a route table', () => {
  let checked: { base: string; server: Server };
  let unchecked: { base: string; server: Server };
  beforeAll(async () => {
    checked = await serve(true);
    unchecked = await serve(false);
  });
  afterAll(async () => {
    for (const { server } of [checked, unchecked]) await new Promise((r) => server.close(r));
  });

  const get = async (base: string, path: string) => {
    const res = await fetch(`${base}${path}`);
    return { status: res.status, body: await res.json() };
  };

  it('validates path ids and the query before the handler runs, naming the parameter', async () => {
    expect(await get(checked.base, '/things/t_1')).toEqual({ status: 200, body: { id: 't_1', count: 1 } });
    const badId = await get(checked.base, '/things/t.1');
    expect(badId).toMatchObject({
      status: 400,
      body: { error: { code: 'VALIDATION_FAILED', message: 'The request path is invalid', details: [{ path: 'thingId' }] } },
    });
    expect(await get(checked.base, '/things/t_1?other=1')).toMatchObject({ status: 400, body: { error: { message: 'The request query is invalid' } } });
  });

  it.each(['extra-field', 'wrong-type', 'undocumented-status'])(
    'an answer off its documented contract (%s) is a 500 when answers are checked',
    async (mode) => {
      expect(await get(checked.base, `/things/t_1?mode=${mode}`)).toEqual({
        status: 500,
        body: { error: { code: 'INTERNAL', message: 'Something went wrong on our side' } },
      });
      expect((await get(unchecked.base, `/things/t_1?mode=${mode}`)).status).not.toBe(500);
    },
  );
});
