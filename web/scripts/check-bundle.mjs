// Builds the UI into a temporary directory and compares it byte for byte with the committed
// web/dist (which the Aurora binary embeds). Exits non-zero, naming the files, if they differ.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const web = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(web, 'dist');
const out = mkdtempSync(join(tmpdir(), 'aurora-web-bundle-'));

function files(root) {
  const list = [];
  const walk = (dir) => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else list.push(relative(root, p));
    }
  };
  try {
    walk(root);
  } catch (e) {
    if (e.code !== 'ENOENT') throw e;
  }
  return list.sort();
}

function check() {
  const vite = join(web, 'node_modules', 'vite', 'bin', 'vite.js');
  const r = spawnSync(process.execPath, [vite, 'build', '--outDir', out, '--emptyOutDir', '--logLevel', 'warn'], { cwd: web, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error('check-bundle: the build failed');
    return 2;
  }
  const built = files(out);
  const committed = files(dist);
  const problems = [];
  for (const f of built) {
    if (!committed.includes(f)) problems.push(`only in a fresh build: ${f}`);
    else if (!readFileSync(join(out, f)).equals(readFileSync(join(dist, f)))) problems.push(`differs: ${f}`);
  }
  for (const f of committed) if (!built.includes(f)) problems.push(`only in web/dist: ${f}`);
  if (problems.length) {
    console.error(`check-bundle: web/dist is not what the sources build (${problems.length} file(s)):`);
    for (const p of problems) console.error(`  ${p}`);
    console.error('Run `npm run build` in web/ and commit web/dist.');
    return 1;
  }
  console.log(`check-bundle: web/dist matches a fresh build (${built.length} files).`);
  return 0;
}

try {
  process.exitCode = check();
} finally {
  rmSync(out, { recursive: true, force: true });
}
