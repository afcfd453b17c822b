/**
 * A gate that a handler waits at, to interleave requests: `entered` resolves when a handler
 * arrives at `wait()`, and `release()` lets it go on.
 */
export function gate() {
  let arrived: () => void = () => {};
  let release: () => void = () => {};
  const entered = new Promise<void>((resolve) => {
    arrived = resolve;
  });
  const open = new Promise<void>((resolve) => {
    release = resolve;
  });
  const wait = () => {
    arrived();
    return open;
  };
  return { entered, release, wait };
}
