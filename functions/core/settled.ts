/**
 * The value of a settled promise, or its error thrown. For round trips sent together with
 * `Promise.allSettled` and then looked at in an order of the caller's choosing (a consent check
 * before the answer that came with it).
 */
export function settledValue<T>(result: PromiseSettledResult<T>): T {
  if (result.status === 'rejected') throw result.reason;
  return result.value;
}
