export async function openPostgresState(_c: string, _s: string): Promise<never> {
  throw new Error('not yet');
}
