// Aurora's argument types and handler signatures, as the server checks them
// (schemas/src/value.rs and schemas/src/signature.rs), so the editor can flag a wrong arg
// while it is typed instead of after a round trip.

type Scalar =
  { kind: 'bool' } | { kind: 'int'; bits: number } | { kind: 'uint'; bits: number } | { kind: 'float32' } | { kind: 'float64' } | { kind: 'string' };

const SCALARS: Record<string, Scalar> = {
  bool: { kind: 'bool' },
  int: { kind: 'int', bits: 64 },
  int8: { kind: 'int', bits: 8 },
  int16: { kind: 'int', bits: 16 },
  int32: { kind: 'int', bits: 32 },
  int64: { kind: 'int', bits: 64 },
  uint: { kind: 'uint', bits: 64 },
  uint8: { kind: 'uint', bits: 8 },
  byte: { kind: 'uint', bits: 8 },
  uint16: { kind: 'uint', bits: 16 },
  uint32: { kind: 'uint', bits: 32 },
  uint64: { kind: 'uint', bits: 64 },
  float32: { kind: 'float32' },
  float64: { kind: 'float64' },
  string: { kind: 'string' },
};

/** Every type name Aurora accepts (scalars, then slices), for the type pickers. */
export const TYPE_NAMES: string[] = [...Object.keys(SCALARS).filter((n) => n !== 'byte'), ...Object.keys(SCALARS).map((n) => `[]${n}`)];

export interface ArgType {
  name: string; // as written, e.g. `int` or `[]string`
  base: string;
  scalar: Scalar;
  slice: boolean;
}

export function parseType(name: string): ArgType | null {
  const slice = name.startsWith('[]');
  const base = slice ? name.slice(2) : name;
  const scalar = SCALARS[base];
  return scalar ? { name, base, scalar, slice } : null;
}

function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'boolean') return 'a boolean';
  if (typeof v === 'number') return 'a number';
  if (typeof v === 'string') return 'a string';
  if (Array.isArray(v)) return 'an array';
  return 'an object';
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** Checks an integer given as its JSON text (exact, beyond 2^53) or as a number. */
function checkInt(s: Scalar & { bits: number }, name: string, v: unknown, raw?: string): string | null {
  if (typeof v !== 'number') return `expected an integer for ${name}, got ${kindOf(v)}`;
  let n: bigint;
  const text = raw?.trim();
  if (text !== undefined && /^-?\d+$/.test(text)) n = BigInt(text);
  else if (Number.isInteger(v)) n = BigInt(v);
  else return `${v} is not a whole number, as ${name} requires`;
  if (s.kind === 'uint') {
    if (n < 0n) return `${n} is out of range for ${name} (it must not be negative)`;
    const max = (1n << BigInt(s.bits)) - 1n;
    if (n > max) return `${n} is out of range for ${name} (0..=${max})`;
  } else {
    const min = -(1n << BigInt(s.bits - 1));
    const max = (1n << BigInt(s.bits - 1)) - 1n;
    if (n < min || n > max) return `${n} is out of range for ${name} (${min}..=${max})`;
  }
  if (n > MAX_SAFE || n < -MAX_SAFE) return `${n} is beyond ±${MAX_SAFE}, the largest integer a browser sends exactly`;
  return null;
}

function checkScalar(s: Scalar, name: string, v: unknown, raw?: string): string | null {
  switch (s.kind) {
    case 'bool':
      return typeof v === 'boolean' ? null : `expected a boolean for ${name}, got ${kindOf(v)}`;
    case 'string':
      return typeof v === 'string' ? null : `expected a string for ${name}, got ${kindOf(v)}`;
    case 'int':
    case 'uint':
      return checkInt(s, name, v, raw);
    case 'float64':
      return typeof v === 'number' ? null : `expected a number for ${name}, got ${kindOf(v)}`;
    case 'float32':
      if (typeof v !== 'number') return `expected a number for ${name}, got ${kindOf(v)}`;
      return Math.abs(v) > 3.4028234663852886e38 ? `${v} is out of range for float32` : null;
  }
}

/** What is wrong with `value` as a value of type `ty` (null when fine); `raw` is its JSON text. */
export function checkValue(ty: ArgType, value: unknown, raw?: string): string | null {
  if (!ty.slice) return checkScalar(ty.scalar, ty.base, value, raw);
  if (value === null) return null;
  if (!Array.isArray(value)) return `expected a JSON array for ${ty.name}, got ${kindOf(value)}`;
  for (let i = 0; i < value.length; i++) {
    const e = checkScalar(ty.scalar, ty.base, value[i]);
    if (e) return `element ${i}: ${e}`;
  }
  return null;
}

// --- Signatures ---------------------------------------------------------------------------

type Param = { any: true } | { any: false; ty: ArgType };

export interface Signature {
  fixed: Param[];
  rest: Param | null;
}

function parseParam(name: string): Param | null {
  if (name === 'any') return { any: true };
  const ty = parseType(name);
  return ty ? { any: false, ty } : null;
}

function paramName(p: Param) {
  return p.any ? 'any' : p.ty.name;
}

/** Parses a handler's `argTypes` (`...T` last means any number of T); null when unreadable. */
export function parseSignature(types: string[]): Signature | null {
  const fixed: Param[] = [];
  let rest: Param | null = null;
  for (let i = 0; i < types.length; i++) {
    const t = types[i];
    if (t.startsWith('...')) {
      if (i !== types.length - 1) return null;
      rest = parseParam(t.slice(3));
      if (!rest) return null;
    } else {
      const p = parseParam(t);
      if (!p) return null;
      fixed.push(p);
    }
  }
  return { fixed, rest };
}

function fits(want: Scalar, got: Scalar) {
  if (want.kind === got.kind) return want.kind === 'int' || want.kind === 'uint' ? (want as { bits: number }).bits === (got as { bits: number }).bits : true;
  return (want.kind === 'float32' || want.kind === 'float64') && (got.kind === 'int' || got.kind === 'uint');
}

function accepts(p: Param, ty: ArgType, variadic: boolean) {
  if (p.any) return true;
  const want = p.ty;
  if (want.slice === ty.slice && fits(want.scalar, ty.scalar)) return true;
  return variadic && !want.slice && ty.slice && fits(want.scalar, ty.scalar);
}

/** `exactly 1 value (int64)`, `any number of values (...string)`, … */
export function describeSignature(sig: Signature): string {
  const names = sig.fixed.map(paramName);
  if (sig.rest) names.push(`...${paramName(sig.rest)}`);
  const list = names.length ? ` (${names.join(', ')})` : '';
  const n = sig.fixed.length;
  const values = n === 1 ? 'value' : 'values';
  if (!sig.rest) return `exactly ${n} ${values}${list}`;
  if (n === 0) return `any number of values${list}`;
  return `at least ${n} ${values}${list}`;
}

export type Mismatch = { kind: 'count'; expected: string; got: number } | { kind: 'type'; position: number; expected: string; got: string };

function checkPositions(sig: Signature, types: ArgType[]): Mismatch | null {
  for (let i = 0; i < types.length; i++) {
    const fixed = sig.fixed[i];
    const param = fixed ?? sig.rest!;
    const variadic = !fixed;
    if (!accepts(param, types[i], variadic)) {
      const expected = variadic ? `${paramName(param)} (or []${paramName(param)})` : paramName(param);
      return { kind: 'type', position: i, expected, got: types[i].name };
    }
  }
  return null;
}

/** Whether values of `types` fit exactly. */
export function checkSignature(sig: Signature, types: ArgType[]): Mismatch | null {
  if (types.length < sig.fixed.length || (!sig.rest && types.length > sig.fixed.length)) {
    return { kind: 'count', expected: describeSignature(sig), got: types.length };
  }
  return checkPositions(sig, types);
}

/** Whether values of `types` can begin a list that fits (more are appended later). */
export function checkSignaturePrefix(sig: Signature, types: ArgType[]): Mismatch | null {
  if (!sig.rest && types.length > sig.fixed.length) return { kind: 'count', expected: describeSignature(sig), got: types.length };
  return checkPositions(sig, types);
}

/** The exact result types, when known before the handler runs (no `any`, no variadic tail). */
export function concreteTypes(sig: Signature): ArgType[] | null {
  if (sig.rest) return null;
  const out: ArgType[] = [];
  for (const p of sig.fixed) {
    if (p.any) return null;
    out.push(p.ty);
  }
  return out;
}

/** The type a new arg at `position` should default to, by the signature. */
export function suggestedType(sig: Signature | null, position: number): string {
  const p = sig ? (sig.fixed[position] ?? sig.rest) : null;
  if (!p || p.any) return 'string';
  return p.ty.name;
}

/** The type names a position accepts, first the declared one, then the rest. */
export function typeChoices(sig: Signature | null, position: number): string[] {
  const first = suggestedType(sig, position);
  return [first, ...TYPE_NAMES.filter((t) => t !== first)];
}
