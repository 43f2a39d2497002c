// The error a promise is expected to reject with, for tests that inspect it beyond toThrow.
export async function rejectionOf<E = unknown>(promise: Promise<unknown>, expected: string): Promise<E> {
  try {
    await promise;
  } catch (error) {
    return error as E;
  }
  throw new Error(`expected ${expected}`);
}
