// npm run build — both builds of the package, into dist/ (or the directory given as the argument):
//   dist/*.js + .d.ts       ESM (tsc, tsconfig.build.json), importing the real `jose` dependency;
//   dist/cjs/*.js + .d.ts   CommonJS (tsc, tsconfig.build-cjs.json; dist/cjs/package.json says
//                           "type": "commonjs"), whose require('jose') calls point at
//                           dist/cjs/vendor/jose.js, jose bundled to CommonJS by esbuild.
// tsc compiles both builds, so both keep the decorator metadata Nest's DI reads (esbuild emits none);
// esbuild only turns jose (ESM only since v6) into one CommonJS file.
import { execFile as execFileCallback } from 'node:child_process';
import { copyFile, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'esbuild';

const execFile = promisify(execFileCallback);
const root = fileURLToPath(new URL('../..', import.meta.url));
const dist = resolve(process.argv[2] ?? join(root, 'dist'));
const cjs = join(dist, 'cjs');
const vendoredJose = join(cjs, 'vendor', 'jose.js');
/** `require("jose")` / `require('jose')` as tsc emits it (static and dynamic imports). */
const REQUIRE_JOSE = /require\((["'])jose\1\)/g;
/** Any other require of jose (a subpath such as jose/jwt/verify) would load the ESM package. */
const REQUIRE_JOSE_ANY = /require\((["'])jose[/"']/;

async function tsc(project, outDir) {
  try {
    await execFile(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', project, '--outDir', outDir], { cwd: root });
  } catch (error) {
    process.stderr.write(`${error.stdout ?? ''}${error.stderr ?? ''}`);
    throw new Error(`tsc -p ${project} failed`, { cause: error });
  }
}

/** Bundles the installed jose into one CommonJS file, with its licence next to it. */
async function vendorJose() {
  const josePackage = join(root, 'node_modules', 'jose');
  const { version, license } = JSON.parse(await readFile(join(josePackage, 'package.json'), 'utf8'));
  await build({
    stdin: { contents: "export * from 'jose';", resolveDir: root, loader: 'js' },
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    outfile: vendoredJose,
    banner: { js: `/*! jose ${version} (${license}, https://github.com/panva/jose), bundled for the CommonJS build; see jose.LICENSE.md */` },
    logLevel: 'warning',
  });
  await copyFile(join(josePackage, 'LICENSE.md'), join(dirname(vendoredJose), 'jose.LICENSE.md'));
}

/** Points every require('jose') of the CommonJS build at the vendored bundle. */
async function rewireJose() {
  const files = (await readdir(cjs, { recursive: true })).filter((file) => file.endsWith('.js') && !file.startsWith('vendor'));
  for (const file of files) {
    const path = join(cjs, file);
    const source = await readFile(path, 'utf8');
    let target = relative(dirname(path), vendoredJose);
    target = target.startsWith('.') ? target : `./${target}`;
    const rewired = source.replace(REQUIRE_JOSE, `require("${target}")`);
    if (REQUIRE_JOSE_ANY.test(rewired)) {
      throw new Error(`${path} requires a jose subpath; import from 'jose' itself so the CommonJS build can use the vendored copy`);
    }
    if (rewired !== source) {
      await writeFile(path, rewired);
    }
  }
}

await rm(dist, { recursive: true, force: true });
await Promise.all([tsc('tsconfig.build.json', dist), tsc('tsconfig.build-cjs.json', cjs)]);
await mkdir(dirname(vendoredJose), { recursive: true });
await Promise.all([vendorJose(), writeFile(join(cjs, 'package.json'), `${JSON.stringify({ type: 'commonjs' }, null, 2)}\n`)]);
await rewireJose();
