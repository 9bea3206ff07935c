// The bundled executable: node|bun dist/pantheros-rollback.mjs <command> …
import { runProcess } from './cli/main.js';
import { COMMANDS } from './commands/index.js';

runProcess(COMMANDS);
