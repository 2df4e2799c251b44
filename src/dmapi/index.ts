// The DMAPI: client, constants, handles, layouts; the service is loaded by the daemon.
export { connect, DmapiClient, DmapiError, attrName, parseEventBuffer, parseEventMsg } from './client';
export type { ConnectOptions, DmEventMsg, DmStat, FileAttrs } from './client';
export * from './constants';
export * as handles from './handles';
export { GLOBAL_HANDLE } from './handles';
export type { Region, Extent } from './layouts';
