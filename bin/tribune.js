#!/usr/bin/env node
// The `tribune` command. The CLI is TypeScript run by Node's type stripping,
// which needs Node 22.18+ (on by default from 23.6): the project brings
// Node 24 as a devDependency, and npm puts it first in PATH for
// `npx tribune` and npm scripts. Under an older `node` this says so instead
// of failing on the first type annotation.

if (!process.features.typescript) {
  process.stderr.write(
    `tribune needs a Node.js that strips TypeScript types (22.18 or newer); this is Node.js ${process.version}.\n` +
    'Run it through npm (npx tribune ...), which uses the Node 24 the project installs,\n' +
    'or with node_modules/.bin/node bin/tribune.js ...\n',
  );
  process.exit(1);
}

const { main } = await import('../agent/cli/main.ts');
await main(process.argv.slice(2));
