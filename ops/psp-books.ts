// The PSP's books as the audit reads them live in lib/node/psp-books.ts, shared with the operator's
// desk (the API), which may not import ops/. Re-exported here for the tools that import them from ops/.
export * from '../lib/node/psp-books';
