import { describe, expect, it } from 'vitest';
import { covariance, sifWeights, symmetricEigen } from '../../scripts/pca.js';

/** A deterministic pseudo-random stream (mulberry32), so the test data is the same on every run. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('PCA for the static embedder distillation', () => {
  it('computes the mean and the sample covariance (divided by n - 1)', () => {
    const rows = [Float32Array.of(1, 2), Float32Array.of(3, 6), Float32Array.of(5, 4)];
    const { mean, cov } = covariance(rows);
    expect([...mean]).toEqual([3, 4]);
    // x: -2, 0, 2; y: -2, 2, 0 → var x = 8/2, var y = 8/2, cov = 4/2
    expect([...cov]).toEqual([4, 2, 2, 4]);
  });

  it('decomposes a symmetric matrix into orthonormal eigenvectors, largest eigenvalue first', () => {
    const d = 12;
    const next = random(7);
    const b = Array.from({ length: d * d }, () => next() - 0.5);
    // A = B Bᵀ: symmetric, positive semi-definite, eigenvalues not known in advance.
    const a = new Float64Array(d * d);
    for (let i = 0; i < d; i++)
      for (let j = 0; j < d; j++) for (let k = 0; k < d; k++) a[i * d + j]! += b[i * d + k]! * b[j * d + k]!;
    const { values, vectors } = symmetricEigen(a, d);
    for (let i = 1; i < d; i++) expect(values[i]!).toBeLessThanOrEqual(values[i - 1]!);
    for (let i = 0; i < d; i++) {
      for (let j = 0; j < d; j++) {
        const dot = vectors[i]!.reduce((s, x, k) => s + x * vectors[j]![k]!, 0);
        expect(dot).toBeCloseTo(i === j ? 1 : 0, 9);
      }
      // A v = λ v
      for (let r = 0; r < d; r++) {
        let av = 0;
        for (let k = 0; k < d; k++) av += a[r * d + k]! * vectors[i]![k]!;
        expect(av).toBeCloseTo(values[i]! * vectors[i]![r]!, 9);
      }
    }
    // The trace is the sum of the eigenvalues.
    let trace = 0;
    for (let i = 0; i < d; i++) trace += a[i * d + i]!;
    expect(values.reduce((s, x) => s + x, 0)).toBeCloseTo(trace, 9);
  });

  it("weights ranks by Model2Vec's Zipf-estimated SIF: rare pieces near 1, the most frequent far below", () => {
    const w = sifWeights(8000, 1e-4);
    let total = 0;
    for (let r = 0; r < 8000; r++) total += 1 / (r + 2);
    expect(w[0]).toBeCloseTo(1e-4 / (1e-4 + 1 / 2 / total), 6);
    expect(w[7999]).toBeCloseTo(1e-4 / (1e-4 + 1 / 8001 / total), 6);
    for (let r = 1; r < 8000; r++) expect(w[r]!).toBeGreaterThan(w[r - 1]!);
    expect(w[0]!).toBeLessThan(0.01);
    expect(w[7999]!).toBeGreaterThan(0.5);
  });
});
