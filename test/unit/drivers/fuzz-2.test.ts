import { fuzzSuite } from './fuzz-harness';

fuzzSuite(1, 2);
