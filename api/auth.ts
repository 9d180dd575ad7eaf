import type { Request, RequestHandler } from 'express';
import { verifyToken, InvalidTokenError, type Principal, type Role } from '../lib/auth';
import { HttpError } from './errors';

declare module 'express-serve-static-core' {
  interface Request {
    principal?: Principal;
  }
}

/** Reads the bearer token when there is one; a present but bad token is a 401 even on public routes. */
export function authenticate(secret: string): RequestHandler {
  return (req, _res, next) => {
    const header = req.header('authorization');
    if (header === undefined) return next();
    const match = /^Bearer ([A-Za-z0-9_\-.]{1,4096})$/.exec(header);
    if (!match) return next(new HttpError(401, 'UNAUTHENTICATED', 'Authorization must be "Bearer <token>"'));
    verifyToken(match[1]!, secret)
      .then((principal) => {
        req.principal = principal;
        next();
      })
      .catch((err) => next(new HttpError(401, 'UNAUTHENTICATED', err instanceof InvalidTokenError ? `Invalid token: ${err.message}` : 'Invalid token')));
  };
}

export function requireRole(...roles: Role[]): RequestHandler {
  return (req, _res, next) => {
    if (!req.principal) return next(new HttpError(401, 'UNAUTHENTICATED', 'A bearer token is required'));
    if (!roles.includes(req.principal.role)) return next(new HttpError(403, 'FORBIDDEN', `This needs the ${roles.join(' or ')} role`));
    next();
  };
}

export function principalOf(req: Request): Principal {
  if (!req.principal) throw new HttpError(401, 'UNAUTHENTICATED', 'A bearer token is required');
  return req.principal;
}

/** A restaurant acts only for itself; admins (when allowed) for any restaurant. */
export function assertActsFor(principal: Principal, restaurantId: string, allowAdmin: boolean): void {
  if (principal.role === 'admin' && allowAdmin) return;
  if (principal.role === 'restaurant' && principal.restaurantId === restaurantId) return;
  throw new HttpError(403, 'FORBIDDEN', 'You may not act for this restaurant');
}
