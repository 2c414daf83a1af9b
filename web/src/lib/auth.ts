// The session: a bearer token kept in sessionStorage (this tab only), and why it ended.
import { useSyncExternalStore } from 'react';

const TOKEN = 'aurora.token';
const EXPIRES = 'aurora.expiresAt';
const USER = 'aurora.user';

export interface Session {
  token: string;
  expiresAt: string;
  user: string;
}

interface AuthState {
  session: Session | null;
  /** Why the last session ended, shown on the login page. */
  message: string | null;
}

function read(): Session | null {
  try {
    const token = sessionStorage.getItem(TOKEN);
    if (!token) return null;
    return { token, expiresAt: sessionStorage.getItem(EXPIRES) ?? '', user: sessionStorage.getItem(USER) ?? '' };
  } catch {
    return null;
  }
}

let state: AuthState = { session: read(), message: null };
const listeners = new Set<() => void>();
let expiryTimer: ReturnType<typeof setTimeout> | undefined;

function emit() {
  for (const l of listeners) l();
}

function armExpiry() {
  clearTimeout(expiryTimer);
  const s = state.session;
  if (!s?.expiresAt) return;
  const ms = Date.parse(s.expiresAt) - Date.now();
  if (Number.isNaN(ms)) return;
  if (ms <= 0) {
    endSession(`Your session expired at ${new Date(s.expiresAt).toLocaleString()}. Log in again.`);
    return;
  }
  // setTimeout holds at most ~24.8 days.
  expiryTimer = setTimeout(armExpiry, Math.min(ms, 2 ** 31 - 1));
}

export function startSession(s: Session) {
  sessionStorage.setItem(TOKEN, s.token);
  sessionStorage.setItem(EXPIRES, s.expiresAt);
  sessionStorage.setItem(USER, s.user);
  state = { session: s, message: null };
  armExpiry();
  emit();
}

/** Ends the session (the token is dropped); `message` says why, on the login page. */
export function endSession(message: string | null) {
  if (!state.session && state.message === message) return;
  sessionStorage.removeItem(TOKEN);
  sessionStorage.removeItem(EXPIRES);
  sessionStorage.removeItem(USER);
  clearTimeout(expiryTimer);
  state = { session: null, message };
  emit();
}

export function currentToken(): string | null {
  return state.session?.token ?? null;
}

export function subscribe(l: () => void) {
  listeners.add(l);
  return () => listeners.delete(l);
}

export function useAuth(): AuthState {
  return useSyncExternalStore(subscribe, () => state);
}

armExpiry();
