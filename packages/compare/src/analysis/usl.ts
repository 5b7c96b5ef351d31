/**
 * Fitting Gunther's Universal Scalability Law,
 *
 *     X(N) = λ N / (1 + σ (N - 1) + κ N (N - 1)),
 *
 * to throughput X measured at cluster sizes N. σ (contention) is the share of
 * the work that serialises: at σ = 1 adding nodes adds no capacity at all. κ
 * (coherency) is the cost of keeping nodes in agreement, which grows with the
 * number of pairs: with κ > 0 capacity eventually falls as N grows. λ is the
 * capacity of one node alone (an extrapolation when N = 1 is not measured).
 *
 * Method: least squares on log throughput (relative errors, since X spans
 * orders of magnitude), with λ profiled out (for given σ, κ the best ln λ is
 * the mean of ln X - ln f), over σ in [0, 1] and κ >= 0: a grid search (σ in
 * steps of 0.005, κ on a log grid from 1e-7 to 10 plus 0), then Nelder-Mead
 * from the best grid point. Gunther's own recipe (a
 * quadratic through N/C(N) - 1) needs X(1), which a replicated store does not
 * have.
 */

/** A fitted law and how well it fits. */
export interface UslFit {
  lambda: number;
  sigma: number;
  kappa: number;
  /** Coefficient of determination on ln X (1 = perfect). */
  r2: number;
  /** N at which the law peaks, sqrt((1 - σ)/κ), or null when it never does (κ = 0) or peaks below 1. */
  peakN: number | null;
}

/** The law's throughput at N. */
export function uslThroughput(n: number, f: Pick<UslFit, "lambda" | "sigma" | "kappa">): number {
  return (f.lambda * n) / (1 + f.sigma * (n - 1) + f.kappa * n * (n - 1));
}

function shape(n: number, sigma: number, kappa: number): number {
  return n / (1 + sigma * (n - 1) + kappa * n * (n - 1));
}

/** Sum of squared log residuals with λ profiled out; returns [sse, lnLambda]. */
function sse(ns: readonly number[], lnX: readonly number[], sigma: number, kappa: number): [number, number] {
  let mean = 0;
  const lnF = ns.map((n) => Math.log(shape(n, sigma, kappa)));
  for (let i = 0; i < ns.length; i++) mean += lnX[i]! - lnF[i]!;
  mean /= ns.length;
  let s = 0;
  for (let i = 0; i < ns.length; i++) {
    const r = lnX[i]! - lnF[i]! - mean;
    s += r * r;
  }
  return [s, mean];
}

function clampSigma(s: number): number {
  return Math.min(1, Math.max(0, s));
}

/** Fits the USL to points (N, X). Needs at least 3 points with X > 0. */
export function fitUsl(points: ReadonlyArray<{ n: number; x: number }>): UslFit {
  const pts = points.filter((p) => p.x > 0 && Number.isFinite(p.x) && p.n >= 1);
  if (pts.length < 3) throw new RangeError(`fitUsl: need at least 3 points with positive throughput, got ${pts.length}`);
  const ns = pts.map((p) => p.n);
  const lnX = pts.map((p) => Math.log(p.x));
  const kappas = [0];
  for (let i = 0; i <= 160; i++) kappas.push(10 ** (-7 + (8 * i) / 160));
  let best = { s: Infinity, sigma: 0, kappa: 0, lnL: 0 };
  for (let si = 0; si <= 200; si++) {
    const sigma = si / 200;
    for (const kappa of kappas) {
      const [s, lnL] = sse(ns, lnX, sigma, kappa);
      if (s < best.s) best = { s, sigma, kappa, lnL };
    }
  }
  // Nelder-Mead around the best grid point, on (σ, κ) clamped to σ in [0, 1], κ >= 0.
  const f = (p: readonly [number, number]): number => sse(ns, lnX, clampSigma(p[0]), Math.max(0, p[1]))[0];
  const k0 = best.kappa;
  let simplex: Array<[number, number]> = [
    [best.sigma, k0],
    [Math.min(1, best.sigma + 0.01), k0],
    [best.sigma, k0 > 0 ? k0 * 1.1 : 1e-6],
  ];
  for (let iter = 0; iter < 2_000; iter++) {
    simplex.sort((a, b) => f(a) - f(b));
    const [b0, b1, w] = simplex as [[number, number], [number, number], [number, number]];
    const fb = f(b0);
    const fw = f(w);
    if (Math.abs(fw - fb) < 1e-18 && Math.abs(w[0] - b0[0]) < 1e-10 && Math.abs(w[1] - b0[1]) < 1e-14) break;
    const c: [number, number] = [(b0[0] + b1[0]) / 2, (b0[1] + b1[1]) / 2];
    const at = (t: number): [number, number] => [c[0] + t * (w[0] - c[0]), c[1] + t * (w[1] - c[1])];
    const r = at(-1);
    const fr = f(r);
    if (fr < fb) {
      const e = at(-2);
      simplex = [b0, b1, f(e) < fr ? e : r];
    } else if (fr < f(b1)) {
      simplex = [b0, b1, r];
    } else {
      const k = fr < fw ? at(-0.5) : at(0.5);
      if (f(k) < Math.min(fr, fw)) simplex = [b0, b1, k];
      else simplex = [b0, [(b0[0] + b1[0]) / 2, (b0[1] + b1[1]) / 2], [(b0[0] + w[0]) / 2, (b0[1] + w[1]) / 2]];
    }
  }
  simplex.sort((a, b) => f(a) - f(b));
  const nm = simplex[0]!;
  const [nmS, nmL] = sse(ns, lnX, clampSigma(nm[0]), Math.max(0, nm[1]));
  if (nmS < best.s) best = { s: nmS, sigma: clampSigma(nm[0]), kappa: Math.max(0, nm[1]), lnL: nmL };
  let mean = 0;
  for (const v of lnX) mean += v;
  mean /= lnX.length;
  let tot = 0;
  for (const v of lnX) tot += (v - mean) ** 2;
  const r2 = tot === 0 ? 1 : 1 - best.s / tot;
  const peak = best.kappa > 0 ? Math.sqrt((1 - best.sigma) / best.kappa) : null;
  return { lambda: Math.exp(best.lnL), sigma: best.sigma, kappa: best.kappa, r2, peakN: peak !== null && peak >= 1 ? peak : null };
}
