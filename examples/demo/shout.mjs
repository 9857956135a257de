/** A project skill: the step's input comes in, its output goes out. */
export function shout(input) {
  return String(input).toUpperCase();
}
