// The few statistics the benchmarks print: medians of rounds, and their spread.

/** The median of the values that are numbers (NaN ignored); NaN when there is none. An even count: the mean of the middle two. */
export function median(values: readonly number[]): number {
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The median with the lowest and highest value beside it. */
export function spread(values: readonly number[]): { median: number; low: number; high: number } {
  return { median: median(values), low: Math.min(...values), high: Math.max(...values) };
}
