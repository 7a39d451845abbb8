import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';

/** CLI tests spawn `bin/ssmis.js`, which runs `dist/`; rebuild it so they never test stale code. */
export default function setup(): void {
  // Only tests under tests/cli need dist/; SSMIS_SKIP_BUILD=1 skips the build when running other tests.
  if (process.env.SSMIS_SKIP_BUILD === '1') return;
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
}
