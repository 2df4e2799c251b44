// dmapifs package entry point.

/** The TruCluster-style distributed lock manager engine (src/dlm). */
export * as dlm from './dlm';
