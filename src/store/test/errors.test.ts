// StoreError's statusCode, here and across the channel: the core's codes have theirs, a feature's code brings its
// own, and nothing but an HTTP error status (400 to 599) ever becomes one, whatever a message on the wire says.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrorCode, fromWireError, StoreError, toWireError, type WireError } from '../shared/errors.js';

test('errors: the core\'s codes answer with their own status; an unknown code with 500', () => {
  assert.equal(new StoreError(ErrorCode.ended, 'x').statusCode, 401);
  assert.equal(new StoreError(ErrorCode.tooLarge, 'x').statusCode, 413);
  assert.equal(new StoreError(ErrorCode.timeout, 'x').statusCode, 503);
  assert.equal(new StoreError('ERR_SOMETHING_ELSE', 'x').statusCode, 500);
});

test('errors: a feature\'s code brings its status, and keeps it across the channel', () => {
  const error = new StoreError('ERR_MY_FEATURE_BUSY', 'busy', 429);
  assert.equal(error.statusCode, 429);
  const back = fromWireError(JSON.parse(JSON.stringify(toWireError(error))) as WireError);
  assert.deepEqual([back.code, back.message, back.statusCode], ['ERR_MY_FEATURE_BUSY', 'busy', 429]);
});

test('errors: a status that is not an HTTP error status is never taken, given here or read from the wire', () => {
  for (const status of [200, 302, 600, 1e3, 429.5, Number.NaN, -401, '503', null, {}]) {
    assert.equal(new StoreError('ERR_MY_FEATURE', 'x', status as number).statusCode, 500, `given ${JSON.stringify(status)}`);
    const wire = { name: 'StoreError', message: 'x', code: ErrorCode.ended, statusCode: status } as unknown as WireError;
    assert.equal(fromWireError(wire).statusCode, 401, `read ${JSON.stringify(status)}: the code's own status`);
  }
});

test('errors: anything but a StoreError crosses the channel as an internal error, its message kept back', () => {
  const wire = toWireError(new Error('secret detail'));
  assert.equal(wire.code, ErrorCode.internal);
  assert.doesNotMatch(wire.message, /secret/);
  assert.equal(fromWireError(wire).statusCode, 500);
});
