// Option checking for both sides of the store: an allow-list of names, each with a rule. An unknown name or a
// bad value throws a TypeError naming the option and what it accepts, at construction, never at the first call.

/** Returns what the option accepts when `value` is not acceptable, undefined when it is. */
export type Rule = (value: unknown) => string | undefined;

export function integer(min = 1, max = Number.MAX_SAFE_INTEGER): Rule {
  const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`;
  return (value) => (Number.isSafeInteger(value) && (value as number) >= min && (value as number) <= max ? undefined : `an integer ${range}`);
}

export const text: Rule = (value) => (typeof value === 'string' && value.length > 0 ? undefined : 'a non-empty string');

export const callable: Rule = (value) => (typeof value === 'function' ? undefined : 'a function');

export function oneOf(what: string, accepts: (value: unknown) => boolean): Rule {
  return (value) => (accepts(value) ? undefined : what);
}

/**
 * Throws a TypeError for the first option of `options` that `rules` does not list, or whose value its rule
 * refuses. `hints` explains names that other stores use (`ttl`, `timeout`). Undefined values are left to defaults.
 */
export function checkOptions(owner: string, options: unknown, rules: Readonly<Record<string, Rule>>, hints: Readonly<Record<string, string>> = {}): void {
  if (options === undefined) return;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new TypeError(`${owner}: options must be an object, got ${describe(options)}`);
  }
  for (const [name, value] of Object.entries(options)) {
    const rule = Object.hasOwn(rules, name) ? rules[name] : undefined;
    if (rule === undefined) {
      const hint = Object.hasOwn(hints, name) ? ` (${hints[name]})` : '';
      const known = Object.keys(rules).map((known) => `\`${known}\``).join(', ');
      throw new TypeError(`${owner}: \`${name}\` is not an option${hint}; the options are ${known}`);
    }
    if (value === undefined) continue;
    const accepted = rule(value);
    if (accepted !== undefined) throw new TypeError(`${owner}: \`${name}\` must be ${accepted}, got ${describe(value)}`);
  }
}

function describe(value: unknown): string {
  if (typeof value === 'function') return 'a function';
  return JSON.stringify(value) ?? typeof value;
}
