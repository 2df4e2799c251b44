// The package entry point exports what the issues promise: the DLM engine and client, the DMAPI
// client, the FUSE binding and the mount layer.
import test from 'ava';
import * as pkg from '../src/index';

test('package exports: dlm, DlmClient, dmapi.connect/DmapiClient/DmapiError, Fuse, mountFs', (t) => {
  t.is(typeof pkg.dlm.Dlm, 'function');
  t.is(typeof pkg.DlmClient, 'function');
  t.is(typeof pkg.dmapi.connect, 'function');
  t.is(pkg.connectDmapi, pkg.dmapi.connect);
  t.is(typeof pkg.DmapiClient, 'function');
  t.true(new pkg.DmapiError(22, 'x') instanceof Error);
  t.is(typeof pkg.Fuse, 'function');
  t.is(typeof pkg.mountFs, 'function');
});
