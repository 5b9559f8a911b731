// The README code the compat cells run, taken from README.md itself so the two cannot drift. A block
// is marked by an HTML comment right before its fence:
//   <!-- compat: jest|vitest|any <path in the project> -->   a file written into the project
//   <!-- compat: install -->                                 the `npm install` command run in it
import { readFile } from 'node:fs/promises';

const MARKER = /<!-- compat: (.*?) -->/g;
const BLOCK = /<!-- compat: (\S+)(?: (\S+))? -->\n```\w*\n([\s\S]*?)\n```\n/g;

/** Resolves { install: string[] (npm install's arguments), files(runner): Array<{ path, code }> }. */
export async function readmeExamples(readmePath) {
  const text = await readFile(readmePath, 'utf8');
  const blocks = [...text.matchAll(BLOCK)].map(([, use, path, code]) => ({ use, path, code: `${code}\n` }));
  const markers = [...text.matchAll(MARKER)].map(([, what]) => what);
  if (markers.length !== blocks.length) {
    const found = new Set(blocks.map(({ use, path }) => [use, path].filter(Boolean).join(' ')));
    const bad = markers.filter((what) => !found.has(what));
    throw new Error(`${readmePath}: no fenced block right after <!-- compat: ${bad.join(' -->, <!-- compat: ')} -->`);
  }
  const installs = blocks.filter(({ use }) => use === 'install');
  const [command, ...args] = installs[0]?.code.trim().split(/\s+/) ?? [];
  if (installs.length !== 1 || command !== 'npm' || args[0] !== 'install' || !args.includes('nestjs-cf-access')) {
    throw new Error(`${readmePath}: expected one <!-- compat: install --> block "npm install nestjs-cf-access …"`);
  }
  const files = (runner) => {
    const chosen = blocks.filter(({ use, path }) => path && (use === runner || use === 'any'));
    if (!chosen.some(({ path }) => path.startsWith('src/')) || !chosen.some(({ path }) => path.startsWith('test/'))) {
      throw new Error(`${readmePath}: the ${runner} examples need a unit spec (src/…) and an e2e test (test/…)`);
    }
    return chosen.map(({ path, code }) => ({ path, code }));
  };
  return { install: args.slice(1), files };
}
