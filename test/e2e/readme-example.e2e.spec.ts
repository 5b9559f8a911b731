// The README's Jest e2e example ("Testing your app"), run as written there: the block after its
// `<!-- compat: jest test/cf-access.e2e-spec.ts -->` marker is copied out of README.md and imported,
// so its describe() registers here. npm run test:compat runs the same block in `nest new` projects.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

const root = new URL('../..', import.meta.url).pathname;
const marker = '<!-- compat: jest test/cf-access.e2e-spec.ts -->';
const readme = await readFile(join(root, 'README.md'), 'utf8');
const code = readme.split(`${marker}\n\`\`\`ts\n`)[1]?.split('\n```\n')[0];
if (code === undefined) {
  throw new Error(`README.md has no \`\`\`ts block right after ${marker}`);
}
// Inside the repo, so the example's imports resolve as the other tests' do (jest.config.js).
const file = join(root, 'test-artifacts', 'readme', 'cf-access.e2e-spec.ts');
await mkdir(dirname(file), { recursive: true });
await writeFile(file, code);
await import(file);
