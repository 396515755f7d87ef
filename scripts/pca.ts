/** The linear algebra of scripts/distill-use-lite.ts: PCA by eigen-decomposition of the covariance, and Model2Vec's SIF weights. */

/** Mean and covariance (divided by n − 1) of the rows of an n × d matrix. */
export function covariance(rows: readonly Float32Array[]): { mean: Float64Array; cov: Float64Array } {
  const n = rows.length;
  const d = rows[0]!.length;
  const mean = new Float64Array(d);
  for (const r of rows) for (let j = 0; j < d; j++) mean[j]! += r[j]!;
  for (let j = 0; j < d; j++) mean[j]! /= n;
  const cov = new Float64Array(d * d);
  const centred = new Float64Array(d);
  for (const r of rows) {
    for (let j = 0; j < d; j++) centred[j] = r[j]! - mean[j]!;
    for (let a = 0; a < d; a++) {
      const x = centred[a]!;
      const row = a * d;
      for (let b = a; b < d; b++) cov[row + b]! += x * centred[b]!;
    }
  }
  for (let a = 0; a < d; a++) {
    for (let b = a; b < d; b++) {
      const v = cov[a * d + b]! / (n - 1);
      cov[a * d + b] = v;
      cov[b * d + a] = v;
    }
  }
  return { mean, cov };
}

/**
 * Eigenvalues and eigenvectors of a symmetric d × d matrix by cyclic Jacobi
 * rotations (Golub & Van Loan, "Matrix Computations", §8.5): exact to machine
 * precision, and 512 × 512 takes seconds. Returns them sorted by eigenvalue,
 * largest first, each vector's largest-magnitude entry made positive so the
 * output does not depend on rounding.
 */
export function symmetricEigen(matrix: Float64Array, d: number): { values: Float64Array; vectors: Float64Array[] } {
  const a = Float64Array.from(matrix);
  const v = new Float64Array(d * d);
  for (let i = 0; i < d; i++) v[i * d + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < d; p++) for (let q = p + 1; q < d; q++) off += a[p * d + q]! ** 2;
    if (off < 1e-22) break;
    for (let p = 0; p < d; p++) {
      for (let q = p + 1; q < d; q++) {
        const apq = a[p * d + q]!;
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (a[q * d + q]! - a[p * d + p]!) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < d; k++) {
          const akp = a[k * d + p]!;
          const akq = a[k * d + q]!;
          a[k * d + p] = c * akp - s * akq;
          a[k * d + q] = s * akp + c * akq;
        }
        for (let k = 0; k < d; k++) {
          const apk = a[p * d + k]!;
          const aqk = a[q * d + k]!;
          a[p * d + k] = c * apk - s * aqk;
          a[q * d + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < d; k++) {
          const vkp = v[k * d + p]!;
          const vkq = v[k * d + q]!;
          v[k * d + p] = c * vkp - s * vkq;
          v[k * d + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const order = Array.from({ length: d }, (_, i) => i).sort((x, y) => a[y * d + y]! - a[x * d + x]!);
  const values = Float64Array.from(order, (i) => a[i * d + i]!);
  const vectors = order.map((i) => {
    const col = Float64Array.from({ length: d }, (_, k) => v[k * d + i]!);
    let big = 0;
    for (let k = 1; k < d; k++) if (Math.abs(col[k]!) > Math.abs(col[big]!)) big = k;
    if (col[big]! < 0) for (let k = 0; k < d; k++) col[k] = -col[k]!;
    return col;
  });
  return { values, vectors };
}

/** Model2Vec's SIF weight per rank: s / (s + p), with p ∝ 1 / (rank + 2) (Zipf). */
export function sifWeights(count: number, coefficient: number): Float32Array {
  let total = 0;
  for (let r = 0; r < count; r++) total += 1 / (r + 2);
  return Float32Array.from({ length: count }, (_, r) => coefficient / (coefficient + 1 / (r + 2) / total));
}
