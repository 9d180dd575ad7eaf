// Lint rules that guard the design: workflow code stays deterministic and imports activities as
// types only; promises are never left floating; each part of the system imports only what it may
// (the fences below; test/boundaries.test.ts shows each one failing on a crossing).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// Import fences, one `no-restricted-imports` per folder. A pattern matches the import as written:
// a relative path is matched on the folder it reaches after its run of `../`, so the same pattern
// holds at every depth (`../activities/order` from api/app.ts, `../../activities/order` from
// api/services/). Every file gets its fence from exactly one block below (flat config replaces a
// rule's options, it does not merge them). Inside db/, a sibling of db/ is reached as `../orders`
// too, hence the optional `db/` in those patterns.
const reaching = (...paths) => `^(?:\\.\\./)+(?:${paths.join('|')})(?:/|$)`;
const fence = (files, ...patterns) => ({ files, rules: { 'no-restricted-imports': ['error', { patterns }] } });

// Packages workflow code may load: the workflow bundle runs in Temporal's deterministic sandbox.
const WORKFLOW_PACKAGES = {
  regex: '^(?![./])(?!@temporalio/(?:workflow|common)$)',
  message: 'Workflow code is replayed: of packages it imports only @temporalio/workflow and @temporalio/common (no Node built-ins, no I/O)',
};
const NOT_WORKERS = {
  regex: reaching('activities', 'workers'),
  message: "activities/ and workers/ are the workers' code; the writes the API shares with the order service are in db/orders/",
};
const NOT_API = { regex: reaching('api'), message: 'api/ is the HTTP edge: nothing below it imports it' };
// processes/ puts services together in one process (the API with the order worker): it stands above
// both, so neither imports it.
const NOT_PROCESSES = { regex: reaching('processes'), message: 'processes/ composes the API and the workers: nothing it composes imports it' };
const NOT_PROJECTOR = {
  regex: reaching('db/projector'),
  message: "db/projector/ is the CDC projector's process; the menu-change notice contract is db/menu-read/",
};
const NOT_TOOLS = {
  regex: reaching('ops', 'harness', 'scripts', 'bench', 'test', 'psp'),
  message: 'Tools, tests and the PSP sandbox are not part of a service',
};
const WORKFLOWS_BY_TYPE = {
  regex: '^(?:\\.\\./)+workflows(?:/(?!messages$)|$)',
  allowTypeImports: true,
  message: 'Workflow code runs in the worker: outside workflows/, import its messages (workflows/messages) or its types only',
};

// Activities by service. One service's activities never import another's, nor reach another
// service's database module (db/orders/ is the order service's).
const ACTIVITIES = {
  order: ['order', 'reconciler'],
  payment: ['payment', 'psp-client'],
  restaurant: ['restaurant'],
};
const SHARED_ACTIVITY_MODULES = ['saga-metrics'];
const activityFence = (service) => {
  const own = service ? ACTIVITIES[service] : SHARED_ACTIVITY_MODULES;
  const others = Object.entries(ACTIVITIES).flatMap(([name, modules]) => (name === service ? [] : modules));
  const patterns = [
    { regex: reaching('api', 'workers'), message: 'Activities run in a worker: they import neither the API nor the workers' },
    NOT_PROJECTOR,
    { regex: reaching('db/menu-read'), message: 'The menu_read change notices are between the projector and the API' },
    NOT_TOOLS,
    WORKFLOWS_BY_TYPE,
    {
      regex: `^(?:\\./|(?:\\.\\./)+activities/)(?:${others.join('|')})$`,
      message: `One service's activities do not import another's (${service ?? 'shared'} may not import ${others.join(', ')})`,
    },
  ];
  if (service !== 'order') patterns.push({ regex: reaching('db/orders'), message: 'The orders database belongs to the order service' });
  return fence(
    own.map((m) => `activities/${m}.ts`),
    ...patterns,
  );
};

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', '.data/', '.data-cluster/', '.venv/', 'coverage/', 'test-results/', 'bench-results/', 'web/dist/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    // .tsx: the web console (web/src, typed by web/tsconfig.json).
    files: ['**/*.ts', '**/*.tsx'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  {
    // Workflow code is replayed: no Node built-ins, no I/O libraries, only the workflow-safe lib,
    // activities by type only.
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            WORKFLOW_PACKAGES,
            {
              regex: '^(?:\\.\\./)+(?!\\.\\./)(?!lib/workflow-safe/|activities/)',
              message: 'Workflow code imports only lib/workflow-safe/ (and activities by type): everything else does I/O',
            },
            { regex: reaching('activities'), message: 'Import activities with `import type` only', allowTypeImports: true },
          ],
        },
      ],
      'no-restricted-globals': [
        'error',
        { name: 'setTimeout', message: 'Use sleep() from @temporalio/workflow' },
        { name: 'setInterval', message: 'Use sleep() in a loop' },
      ],
    },
  },
  // lib/workflow-safe/ is bundled into the workflow: its modules import each other and nothing else.
  fence(['lib/workflow-safe/**/*.ts'], WORKFLOW_PACKAGES, {
    regex: '^(?:\\.\\./)+(?!\\.\\./)(?!workflow-safe/)',
    message: 'lib/workflow-safe/ imports only lib/workflow-safe/: workflow code includes it (Node-only code is in lib/node/)',
  }),
  // lib/node/ is the ground floor of the Node processes: it imports only lib/.
  fence(['lib/node/**/*.ts'], {
    regex: '^(?:\\.\\./)+(?!\\.\\./)(?!node/|workflow-safe/)',
    message: 'lib/node/ is the ground floor: it imports only lib/node/ and lib/workflow-safe/',
  }),
  // lib/'s own modules (the saga starter, shared by the API, the sweeper and the reconciler) stand
  // below all three: they import lib/ and db/knex, never a service, a worker or workflow code.
  fence(['lib/*.ts'], {
    regex: reaching('api', 'activities', 'workers', 'workflows', 'db/(?!knex$)[^/]+', 'ops', 'harness', 'scripts', 'bench', 'psp'),
    message: "lib/'s modules are shared by the API and the workers: they import only lib/ and db/knex (start workflows by their type's name)",
  }),
  // The API: HTTP edge over its databases and Temporal; it never runs worker or projector code.
  fence(['api/**/*.ts'], NOT_WORKERS, NOT_PROCESSES, NOT_PROJECTOR, NOT_TOOLS, WORKFLOWS_BY_TYPE),
  activityFence('order'),
  activityFence('payment'),
  activityFence('restaurant'),
  activityFence(null),
  fence(['workers/**/*.ts'], NOT_API, NOT_PROCESSES, NOT_PROJECTOR, NOT_TOOLS, WORKFLOWS_BY_TYPE),
  // A process of several services (processes/api-order-worker.ts: the API and the order worker on one
  // connection, for eager saga starts) may import the API and the workers, the only place that may
  // import both; like them it runs no projector code, no tool, and workflow code by type only.
  fence(['processes/**/*.ts'], NOT_PROJECTOR, NOT_TOOLS, WORKFLOWS_BY_TYPE),
  // The CDC projector reads the restaurants database and writes menu_read; nothing else.
  fence(
    ['db/projector/**/*.ts'],
    NOT_API,
    { regex: reaching('activities', 'workers', 'workflows', '(?:db/)?orders'), message: 'The projector is its own process: it imports no service code' },
    NOT_TOOLS,
  ),
  // Homes shared by two sides (db/orders/: the API and the order activities; db/menu-read/: the
  // projector and the API) depend on neither side.
  fence(
    ['db/orders/**/*.ts', 'db/menu-read/**/*.ts'],
    {
      regex: reaching('api', 'activities', 'workers', 'workflows', '(?:db/)?projector'),
      message: 'A shared module imports neither of the sides that share it (only db/knex and lib/)',
    },
    NOT_TOOLS,
  ),
  {
    files: ['**/*.mjs', '**/*.js'],
    languageOptions: { globals: { console: 'readonly', process: 'readonly', require: 'readonly', module: 'writable', __dirname: 'readonly' } },
  },
);
