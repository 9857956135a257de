/** The error a resume with a wrong answer is refused with; fails the test if it was accepted. */
export async function rejected(p: Promise<unknown>): Promise<{ code?: string; message: string }> {
  try {
    await p;
  } catch (e) {
    return e as { code?: string; message: string };
  }
  throw new Error('the answer was accepted');
}
