// The bundled executable: node|bun dist/pantheros-rollback.mjs <command> …
import { main } from './cli/main.js';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`pantheros-rollback: internal error: ${String(error)}\n`);
    process.exitCode = 4;
  },
);
