// Summaries of repeated measurements: medians (robust to a noisy shared machine) and spread.

/** Median of a list of numbers (mean of the middle two for even lengths); NaN for none. */
export function median(values) {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return Number.NaN;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

/** Median, min, max and count of a sample, rounded for the report. */
export function summarize(values) {
  const v = values.filter((x) => Number.isFinite(x));
  return { median: round(median(v)), min: round(Math.min(...v)), max: round(Math.max(...v)), n: v.length };
}

/** Rounds to 2 decimals (or 3 significant digits below 1) for readable JSON. */
export function round(x) {
  if (!Number.isFinite(x)) return x;
  return Math.abs(x) >= 1 ? Math.round(x * 100) / 100 : Number(x.toPrecision(3));
}

/** Rotates a list by `shift`, so each run alternates which variant goes first. */
export function rotate(list, shift) {
  const k = ((shift % list.length) + list.length) % list.length;
  return [...list.slice(k), ...list.slice(0, k)];
}
