import fs from 'node:fs';

export default async function globalTeardown(): Promise<void> {
  const state = globalThis.__TEST_POSTGRES__;
  if (!state) return;
  await Promise.all(state.instances.map((i) => i.stop()));
  fs.rmSync(state.root, { recursive: true, force: true });
}
