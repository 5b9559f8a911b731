import 'reflect-metadata';
import { startSample } from './start-sample.js';

const sample = await startSample({ port: Number(process.env.PORT ?? 0) });

console.log(
  sample.emulated
    ? `\n  nestjs-cf-access sample, behind the local Cloudflare Access emulator\n\n  Open ${sample.url}/profile and log in` +
        ` (admin@example.com is an admin, user@example.com is not).\n  The app itself listens on ${sample.appUrl}.\n`
    : `\n  nestjs-cf-access sample on ${sample.url}, trusting ${process.env.CF_ACCESS_TEAM_DOMAIN}\n`,
);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void sample.close().then(() => process.exit(0)));
}
