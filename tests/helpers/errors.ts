import { expect } from 'vitest';
import { AppError } from '../../src/errors.js';

/** The AppError `p` rejects with; the test fails when `p` resolves or rejects with anything else. */
export async function appErrorOf(p: Promise<unknown>): Promise<AppError> {
  const err = await p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AppError);
  return err as AppError;
}
