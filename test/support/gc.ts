import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

setFlagsFromString('--expose-gc');
/** V8's full garbage collection, exposed without `--expose-gc` on the command line. */
const collect = runInNewContext('gc') as () => void;

/** Runs a full GC every `everyMs` until the returned function is called (to shake out weakly held timers and signals). */
export function collectGarbageContinuously(everyMs = 20): () => void {
  const timer = setInterval(collect, everyMs);
  return () => clearInterval(timer);
}
