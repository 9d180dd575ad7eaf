import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { DEFAULT_TOKEN_LIFETIMES, verifyToken, InvalidTokenError, type Principal, type Role, type TokenLifetimes } from '../lib/node/auth';
import { Forbidden, Unauthenticated } from './services/errors';

declare module 'express-serve-static-core' {
  interface Request {
    principal?: Principal;
    /** Why the bearer token was refused; raised by refuseBadCredentials after rate limiting. */
    credentialsError?: Unauthenticated;
  }
}

// RFC 7235: the scheme is case-insensitive. A JWT is three base64url parts (the third is empty for
// `alg: none`, which verifyToken refuses); the length bound keeps verification cheap.
const BEARER = /^Bearer +([A-Za-z0-9_\-.]{1,4096}) *$/i;

/**
 * Reads the bearer token when there is one and never fails: a bad token is remembered on the request
 * so that the rate limiter (keyed by subject, else by IP) still counts the caller, and
 * refuseBadCredentials turns it into a 401 right after.
 */
export function readCredentials(secret: string, lifetimes: TokenLifetimes = DEFAULT_TOKEN_LIFETIMES): RequestHandler {
  return async (req, _res, next) => {
    const header = req.header('authorization');
    if (header === undefined) return next();
    const match = BEARER.exec(header);
    if (!match) {
      req.credentialsError = new Unauthenticated('Authorization must be "Bearer <token>"');
      return next();
    }
    // Only the verification is guarded: an error further down the chain must not be taken for a bad token.
    try {
      req.principal = await verifyToken(match[1]!, secret, lifetimes);
    } catch (err) {
      req.credentialsError = new Unauthenticated(err instanceof InvalidTokenError ? `Invalid token: ${err.message}` : 'Invalid token');
    }
    next();
  };
}

/** A present but bad token is a 401 even on public routes. */
export const refuseBadCredentials: RequestHandler = (req, _res, next) => {
  next(req.credentialsError);
};

/** readCredentials and refuseBadCredentials in one (for apps without a rate limiter in between). */
export function authenticate(secret: string, lifetimes: TokenLifetimes = DEFAULT_TOKEN_LIFETIMES): RequestHandler {
  const read = readCredentials(secret, lifetimes);
  return (req: Request, res: Response, next: NextFunction) => read(req, res, () => refuseBadCredentials(req, res, next));
}

export function requireRole(...roles: Role[]): RequestHandler {
  return (req, _res, next) => {
    if (!req.principal) return next(new Unauthenticated('A bearer token is required'));
    if (!roles.includes(req.principal.role)) return next(new Forbidden(`This needs the ${roles.join(' or ')} role`));
    next();
  };
}

export function principalOf(req: Request): Principal {
  if (!req.principal) throw new Unauthenticated('A bearer token is required');
  return req.principal;
}

/**
 * A restaurant acts only for itself; admins (when allowed) for any restaurant. The refusal is the
 * same whether or not the named restaurant exists, so it tells the caller nothing about it.
 */
export function assertActsFor(principal: Principal, restaurantId: string, allowAdmin: boolean): void {
  if (principal.role === 'admin' && allowAdmin) return;
  if (principal.role === 'restaurant' && principal.restaurantId === restaurantId) return;
  throw new Forbidden('You may not act for this restaurant');
}
