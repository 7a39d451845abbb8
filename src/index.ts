/** ssmis: the public library API. Names here are a contract (design.md, "Public library API"). */
export { tf } from './backend/tf.js';
export { writeFileAtomic } from './util/atomic.js';
export { errorMessage, InputError, SsmisError } from './util/errors.js';
export { Rng, type RngState } from './util/rng.js';
