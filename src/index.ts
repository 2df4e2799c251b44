// dmapifs package entry point.

/** The TruCluster-style distributed lock manager engine (src/dlm). */
export * as dlm from './dlm';

/** The DLM client: the engine's API over a node daemon's socket (src/dlm/client.ts). */
export { DlmClient, dlmSocketPath, type DlmClientOptions } from './dlm/client';
