import { dataConverterFor, EncryptionCodec, parsePayloadKeys } from '../../lib/node/payload-codec';

// TEST FIXTURE KEY. Committed on purpose and used ONLY by the test suite: the test stacks encrypt
// Temporal payloads with it, and the encrypted histories under test/histories-encrypted/ were
// recorded with it, so the replay suite can decrypt them. It protects nothing; never use it (or
// anything derived from it) outside tests. Real keyrings come from PAYLOAD_KEYS or PAYLOAD_KEYS_FILE.
export const TEST_ONLY_PAYLOAD_KEYS = 'test-fixture-only:5Zju9zGtL5DpgGvsOyfbbRb+HfiEi0MlIt13ayMtlZ0=';

/** The test stacks' codec and data converter (clients, workers, replays). */
export const TEST_PAYLOAD_CODEC = new EncryptionCodec(parsePayloadKeys(TEST_ONLY_PAYLOAD_KEYS));
export const TEST_DATA_CONVERTER = dataConverterFor(TEST_PAYLOAD_CODEC);
