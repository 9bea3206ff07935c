// The bundled executable: node|bun dist/pantheros-rollback.mjs <command> …
import { main } from './cli/main.js';
import { writeErr } from './cli/io.js';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    writeErr(`pantheros-rollback: internal error: ${String(error)}\n`);
    process.exitCode = 4;
  },
);
