import { AppError, isAppError } from '../../errors.js';

/**
 * What a processor's failure means to the queue runners. Once the job's signal
 * has fired (the runner is shutting down), the processor was stopped, not
 * failed, whatever the stop surfaced as (a core CANCELLED, an LLM adapter's
 * non-transient one, an aborted fetch's bare reason): it becomes a transient
 * CANCELLED so the job runs again (attempts permitting) instead of failing
 * for good. A transient AppError is kept as it is.
 */
export function failureOf(err: unknown, signal: AbortSignal): unknown {
  if (!signal.aborted || (isAppError(err) && err.transient)) return err;
  return new AppError('CANCELLED', [], { cause: err, transient: true });
}
