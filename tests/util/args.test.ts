import { describe, expect, it } from 'vitest';
import { tf } from '../../src/backend/tf.js';
import {
  describeArgument,
  isPlainObject,
  isRecord,
  requireModel,
  requireNumberArray,
  requireNumbers,
  requireRng,
  requireTensor,
  requireTypedArray,
  requireVolume,
} from '../../src/util/args.js';
import { InputError } from '../../src/util/errors.js';
import { Rng } from '../../src/util/rng.js';

/** The message of an InputError thrown by `fn`. */
function message(fn: () => void): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(InputError);
    return (error as Error).message;
  }
  throw new Error('expected an InputError');
}

describe('argument checks', () => {
  it('describe what was found', () => {
    expect(describeArgument(undefined)).toBe('nothing');
    expect(describeArgument('x'.repeat(50))).toBe(`string "${'x'.repeat(37)}..."`);
    expect(describeArgument(new Float32Array(3))).toBe('a Float32Array of length 3');
    expect(describeArgument([1, 2])).toBe('an array of length 2');
    expect(describeArgument(new Map())).toBe('a Map');
    const t = tf.zeros([2, 3]);
    expect(describeArgument(t)).toBe('a float32 tensor of shape [2, 3]');
    t.dispose();
  });

  it('name the function and the argument, one line', () => {
    expect(message(() => requireNumbers('f', 'pred', 'abc'))).toBe(
      'f: argument \'pred\' must be a typed array or an array of finite numbers, got string "abc"',
    );
    expect(message(() => requireNumbers('f', 'pred', new Uint8Array(2), 3))).toBe(
      "f: argument 'pred' must have 3 values, got 2",
    );
    expect(
      message(() => requireNumberArray('f', 'shape', [2, 0], { integer: true, min: 1, length: 2 })),
    ).toBe("f: argument 'shape' must be an array of 2 integers ≥ 1, got [2, 0]");
    expect(message(() => requireTypedArray('f', 'bytes', [1, 2], ['Uint8Array']))).toBe(
      "f: argument 'bytes' must be a Uint8Array, got an array of length 2",
    );
    expect(message(() => requireRng('f', 'rng', { seed: 1 }))).toBe(
      "f: argument 'rng' must be an Rng (new Rng(seed)), got an object",
    );
    requireRng('f', 'rng', new Rng(1));
  });

  it('check tensors by rank, dtype and liveness', () => {
    const t = tf.zeros([2, 2], 'int32');
    requireTensor('f', 'x', t, { rank: 2, dtype: 'int32' });
    expect(message(() => requireTensor('f', 'x', t, { rank: [4, 5] }))).toBe(
      "f: argument 'x' must be a tensor of rank 4 or 5, got a int32 tensor of shape [2, 2]",
    );
    t.dispose();
    expect(message(() => requireTensor('f', 'x', t))).toBe("f: argument 'x' is a disposed tensor");
  });

  it('check volumes and models by their members', () => {
    expect(message(() => requireVolume('f', 'v', { data: new Uint8Array(7), shape: [2, 2, 2] }))).toBe(
      "f: argument 'v' has shape [2, 2, 2] (8 values) but 7 values in data",
    );
    expect(message(() => requireVolume('f', 'v', { data: [1], shape: [1] }))).toBe(
      "f: argument 'v.data' must be a typed array, got an array of length 1",
    );
    const model = { apply: () => null, spatialDims: 2, inChannels: 1, numClasses: 2 };
    requireModel('f', 'm', model);
    expect(message(() => requireModel('f', 'm', model, 3))).toMatch(
      /must be a 3-D segmentation model .*got a 2-D model$/,
    );
  });
});

describe('isRecord and isPlainObject: the one home of both object tests', () => {
  class Options {
    a = 1;
  }
  it('a table of values: [value, isRecord, isPlainObject]', () => {
    const cases: [string, unknown, boolean, boolean][] = [
      ['object literal', { a: 1 }, true, true],
      ['null prototype', Object.create(null), true, true],
      ['parsed JSON', JSON.parse('{"a":{"b":2}}'), true, true],
      ['class instance', new Options(), true, false],
      ['Map', new Map(), true, false],
      ['Date', new Date(0), true, false],
      ['array', [1, 2], false, false],
      ['Float32Array', new Float32Array(2), false, false],
      ['DataView', new DataView(new ArrayBuffer(2)), false, false],
      ['null', null, false, false],
      ['undefined', undefined, false, false],
      ['string', 'a', false, false],
      ['number', 3, false, false],
    ];
    for (const [what, value, record, plain] of cases) {
      expect([what, isRecord(value), isPlainObject(value)]).toEqual([what, record, plain]);
    }
  });
});
