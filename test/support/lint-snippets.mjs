// Lints source snippets as if each stood at its path in the repository, with the project's own
// eslint.config.mjs and ESLint's Node API (`lintText(code, { filePath })`), and prints every
// snippet's messages as JSON on stdout. Input: JSON [{ filePath, code }] on stdin, paths relative
// to the repository. test/boundaries.test.ts runs it in its own Node process because ESLint loads
// its (ES module) config with a dynamic import, which jest's module sandbox cannot do.
import path from 'node:path';
import { text } from 'node:stream/consumers';
import { ESLint } from 'eslint';

const root = path.resolve(import.meta.dirname, '..', '..');
const snippets = JSON.parse(await text(process.stdin));
const eslint = new ESLint({
  cwd: root,
  // The snippets are not files of the TypeScript project: parse them without type information (the
  // import fences need none) and switch off the one rule here that does.
  overrideConfig: {
    languageOptions: { parserOptions: { projectService: false } },
    rules: { '@typescript-eslint/no-floating-promises': 'off' },
  },
});
const results = [];
for (const { filePath, code } of snippets) {
  const [result] = await eslint.lintText(code, { filePath: path.join(root, filePath) });
  results.push(result.messages.map(({ ruleId, message, fatal }) => ({ ruleId, message, fatal: fatal === true })));
}
process.stdout.write(JSON.stringify(results));
