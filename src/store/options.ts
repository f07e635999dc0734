// Option checking shared by both sides of the store: a bad option throws a TypeError naming it.

/** Returns `value` when it is an integer in [min, max], `fallback` when undefined; throws otherwise. */
export function integerOption(name: string, value: unknown, fallback: number, min = 1, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `between ${min} and ${max}`;
    throw new TypeError(`\`${name}\` option must be an integer ${range}, got ${JSON.stringify(value) ?? typeof value}`);
  }
  return value;
}
