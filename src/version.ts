// The version, from package.json at build time (esbuild and vitest define __PANTHEROS_VERSION__): one source.
declare const __PANTHEROS_VERSION__: string;

export const VERSION: string = __PANTHEROS_VERSION__;
export const TOOL = `pantheros-rollback ${VERSION}`;
