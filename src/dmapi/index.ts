// dmapifs/dmapi: the DMAPI client library (no native code, no daemon code): connect() → dm_* in
// camelCase, its types, the SGI constants and the handle helpers libdm computes locally.
export { connect, defaultDmapiNode, DmapiClient, DmapiError, attrName, isEvent, parseEventBuffer, parseEventMsg } from './client';
export type {
  ConnectOptions, DataEventType, DmDataEvent, DmDestroyEvent, DmEventMsg, DmMountEvent, DmNamespaceEvent, DmStat, DmUserEvent,
  EventOf, EventsOptions, FileAttrs, Int64, NamespaceEventType, RegionSpec, ScanResult,
} from './client';
export * from './constants';
export * as handles from './handles';
export { GLOBAL_HANDLE } from './handles';
export type { Region, Extent, StatInfo } from './layouts';
export type { FieldValue } from './protocol/codec';
