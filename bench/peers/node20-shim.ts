// @restatedev/restate-sdk 1.17.2 calls Promise.withResolvers (Node 22 and later) while declaring no
// Node engine; on Node 20 every invocation failed with "Promise.withResolvers is not a function".
// This is the standard definition, installed only where it is missing; imported before the SDK.

interface Resolvers<T> {
  promise: Promise<T>;
  resolve: (value: T | PromiseLike<T>) => void;
  reject: (reason?: unknown) => void;
}

const P = Promise as unknown as { withResolvers?: <T>() => Resolvers<T> };
P.withResolvers ??= function withResolvers<T>(): Resolvers<T> {
  let resolve!: Resolvers<T>['resolve'];
  let reject!: Resolvers<T>['reject'];
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
};

export {};
