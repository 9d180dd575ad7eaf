// The signed-in token, kept in sessionStorage (this tab only; closing it signs out). The browser
// reads the token's claims only to know whom to show; the API verifies every request.
import type { Role } from './types';

export interface Session {
  token: string;
  role: Role;
  sub: string;
  restaurantId?: string;
  /** Expiry, ms since the epoch. */
  expiresAt?: number;
}

export type TokenProblem = { kind: 'malformed' } | { kind: 'wrongRole'; role: string; expected: Role } | { kind: 'expired'; at: number };

function decodeSegment(segment: string): unknown {
  const b64 = segment
    .replace(/-/g, '+')
    .replace(/_/g, '/')
    .padEnd(Math.ceil(segment.length / 4) * 4, '=');
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes));
}

/** Reads a pasted bearer token (with or without the "Bearer " prefix) for the role a page needs. */
export function readToken(raw: string, expected: Role, now = Date.now()): Session | TokenProblem {
  const token = raw.trim().replace(/^Bearer\s+/i, '');
  const parts = token.split('.');
  if (parts.length !== 3 || !/^[A-Za-z0-9_\-.]+$/.test(token)) return { kind: 'malformed' };
  let claims: Record<string, unknown>;
  try {
    claims = decodeSegment(parts[1]!) as Record<string, unknown>;
  } catch {
    return { kind: 'malformed' };
  }
  if (typeof claims !== 'object' || claims === null || typeof claims.sub !== 'string' || typeof claims.role !== 'string') return { kind: 'malformed' };
  if (claims.role !== expected) return { kind: 'wrongRole', role: claims.role, expected };
  const expiresAt = typeof claims.exp === 'number' ? claims.exp * 1000 : undefined;
  if (expiresAt !== undefined && expiresAt <= now) return { kind: 'expired', at: expiresAt };
  if (expected === 'restaurant' && typeof claims.restaurantId !== 'string') return { kind: 'malformed' };
  return {
    token,
    role: expected,
    sub: claims.sub,
    ...(typeof claims.restaurantId === 'string' ? { restaurantId: claims.restaurantId } : {}),
    ...(expiresAt !== undefined ? { expiresAt } : {}),
  };
}

export function isSession(value: Session | TokenProblem): value is Session {
  return 'token' in value;
}

const storageKey = (role: Role) => `console.${role}.token`;

export function loadSession(role: Role): Session | undefined {
  try {
    const raw = sessionStorage.getItem(storageKey(role));
    if (!raw) return undefined;
    const read = readToken(raw, role);
    return isSession(read) ? read : undefined;
  } catch {
    return undefined;
  }
}

export function saveSession(session: Session): void {
  try {
    sessionStorage.setItem(storageKey(session.role), session.token);
  } catch {
    // storage disabled: the session lasts until the page is reloaded
  }
}

export function clearSession(role: Role): void {
  try {
    sessionStorage.removeItem(storageKey(role));
  } catch {
    // nothing stored
  }
}
