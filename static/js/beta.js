// Beta densities for the bandit's posteriors, computed in the browser in log space so that
// posteriors after millions of impressions (alpha, beta in the millions) stay finite.

const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];

/** ln Γ(x) for x > 0 (Lanczos, g = 7: about 15 significant digits). */
export function logGamma(x) {
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x); // reflection
  x -= 1;
  let sum = LANCZOS[0];
  for (let i = 1; i < 9; i++) sum += LANCZOS[i] / (x + i);
  const t = x + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(sum);
}

/** ln B(a, b). */
export const logBeta = (a, b) => logGamma(a) + logGamma(b) - logGamma(a + b);

/** The Beta(a, b) density at x in (0, 1); `norm` is logBeta(a, b), if already known. */
export function betaPdf(x, a, b, norm = logBeta(a, b)) {
  if (x <= 0 || x >= 1) return 0;
  return Math.exp((a - 1) * Math.log(x) + (b - 1) * Math.log1p(-x) - norm);
}

/** The standard deviation of Beta(a, b). */
export function betaSd(a, b) {
  const n = a + b;
  return Math.sqrt((a * b) / (n * n * (n + 1)));
}

/**
 * Points [x, density] of Beta(a, b) over [lo, hi]: `count` even steps, plus a denser run around
 * the posterior's own mass, so that a narrow peak is drawn with its true height.
 */
export function densityCurve(a, b, lo, hi, count = 200) {
  const norm = logBeta(a, b);
  const xs = new Set();
  for (let i = 0; i <= count; i++) xs.add(lo + ((hi - lo) * i) / count);
  const mean = a / (a + b);
  const sd = betaSd(a, b);
  const from = Math.max(lo, mean - 5 * sd);
  const to = Math.min(hi, mean + 5 * sd);
  if (to > from) for (let i = 0; i <= 100; i++) xs.add(from + ((to - from) * i) / 100);
  if (a > 1 && b > 1) {
    const mode = (a - 1) / (a + b - 2);
    if (mode > lo && mode < hi) xs.add(mode);
  }
  const clampLo = Math.max(lo, 1e-9);
  const clampHi = Math.min(hi, 1 - 1e-9);
  return [...xs]
    .filter((x) => x >= clampLo && x <= clampHi)
    .sort((p, q) => p - q)
    .map((x) => [x, betaPdf(x, a, b, norm)]);
}
